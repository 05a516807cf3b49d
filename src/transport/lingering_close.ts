/**
 * A lingering close: how a server closes a connection without losing its last
 * packet (a DISCONNECT with a reason code, a refusing CONNACK) when the client is
 * still sending. Closing a socket whose receive buffer holds unread bytes makes
 * the kernel answer with RST instead of FIN and drop whatever it had not sent
 * yet; a client that is writing gets `Broken pipe` / `Connection reset` instead
 * of the reason code. So the write side is shut down first (FIN after the last
 * packet), what the client still sends is read and thrown away until it closes
 * its side, and only then, or after a bounded time, is the socket closed.
 *
 * Every listener closes this way: tcp (a `Deno.Conn`, {@link lingeringClose}), tls
 * (a node TLSSocket, {@link lingeringEnd}), and ws/wss through their byte channels
 * (byte_channel.ts), which use the same two functions.
 *
 * @module
 */
import type { Duplex } from "node:stream";

/** The longest a closed connection keeps reading and discarding (what careful HTTP servers use). */
export const LINGER_MS = 2000;

/** One buffer for every lingering connection: what is read into it is never looked at. */
const discard = new Uint8Array(16 * 1024);

/**
 * Shuts down the write side of `conn` (after everything written so far), reads and
 * discards until the peer closes or `lingerMs` passed, then calls `close` once.
 */
export function lingeringClose(conn: Deno.Conn, close: () => void, lingerMs = LINGER_MS): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const done = () => {
    clearTimeout(timer);
    close();
  };
  const drain = (): Promise<void> => conn.read(discard).then((n) => n === null ? undefined : drain());
  conn.closeWrite().then(
    () => {
      timer = setTimeout(done, lingerMs);
      drain().then(done, done);
    },
    done, // not connected any more: nothing to linger for
  );
}

/**
 * The same for a node stream (a TLSSocket over the accepted connection): `end()` sends
 * close_notify and FIN after everything written so far, reading goes on (resumed, in case
 * backpressure paused it) until the peer ends its side, which closes the stream, or until
 * `lingerMs` passed, when it is destroyed. The caller stops looking at what it reads first.
 */
export function lingeringEnd(stream: Duplex, lingerMs = LINGER_MS): void {
  if (stream.destroyed) return;
  stream.resume();
  stream.end();
  const timer = setTimeout(() => stream.destroy(), lingerMs);
  stream.once("close", () => clearTimeout(timer));
}
