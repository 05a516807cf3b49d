/**
 * Clients that open a connection and stall before CONNECT, each at a different
 * stage: silent after the TCP handshake, a TLS ClientHello and nothing more, a
 * completed TLS handshake and no HTTP request, an HTTP upgrade request sent a
 * byte at a time. Each resolves `closed` with the time the server took to
 * close it.
 */
import { connect as tlsConnect } from "node:tls";

export interface Staller {
  /** Milliseconds from opening until the server closed the connection. */
  readonly closed: Promise<number>;
  /** Closes from this side (cleanup). */
  close(): void;
}

/** A real ClientHello, recorded from node:tls against a plain TCP server that never answers. */
export async function recordClientHello(): Promise<Uint8Array> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = tlsConnect({
    host: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
    servername: "localhost",
  });
  client.on("error", () => {});
  const conn = await listener.accept();
  const buf = new Uint8Array(4096);
  const n = (await conn.read(buf))!;
  client.destroy();
  conn.close();
  listener.close();
  return buf.slice(0, n);
}

/**
 * Reads (and drops) what the server sends until it closes `conn` (EOF or a reset, or the
 * staller's own close()); resolves with the milliseconds from `start` until then.
 */
export async function msUntilClosed(conn: Deno.Conn, start = performance.now()): Promise<number> {
  const buf = new Uint8Array(4096);
  try {
    while (await conn.read(buf) !== null) { /* what the server says before closing */ }
  } catch {
    // reset by the server, or closed by close()
  }
  return performance.now() - start;
}

/** Connects and then sends `first` (if any) and nothing else. */
export async function silentStaller(port: number, first?: Uint8Array): Promise<Staller> {
  const start = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (first) await conn.write(first);
  return { closed: msUntilClosed(conn, start), close: () => closeQuietly(conn) };
}

/** Sends `request` one byte every `intervalMs`, repeating it forever. */
export async function tricklingStaller(port: number, request: string, intervalMs = 100): Promise<Staller> {
  const start = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const bytes = new TextEncoder().encode(request);
  let i = 0;
  const timer = setInterval(
    () => conn.write(bytes.subarray(i % bytes.length, (i++ % bytes.length) + 1)).catch(() => {}),
    intervalMs,
  );
  const closed = msUntilClosed(conn, start).finally(() => clearInterval(timer));
  return {
    closed,
    close: () => {
      clearInterval(timer);
      closeQuietly(conn);
    },
  };
}

/** Completes a TLS handshake (trusting `ca`) and then sends nothing. */
export function tlsIdleStaller(port: number, ca: string): Promise<Staller> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost" });
    const closed = new Promise<number>((done) => socket.once("close", () => done(performance.now() - start)));
    socket.on("error", () => {});
    socket.once("secureConnect", () => resolve({ closed, close: () => socket.destroy() }));
    closed.then(() => reject(new Error("closed before the TLS handshake finished")));
  });
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
