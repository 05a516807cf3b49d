/**
 * One connection's bytes, whether a plain `Deno.Conn` or a node TLSSocket, behind
 * the few operations the WebSocket listener needs: chunks pushed to a handler
 * (each a fresh buffer the handler may modify and keep), pause and resume for
 * backpressure, writes that complete in order, and a close that lets the last
 * bytes reach the peer.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { TLSSocket } from "node:tls";
import { lingeringClose, lingeringEnd } from "./lingering_close.ts";

/** Where a channel's incoming bytes go; replaceable (the HTTP stage hands over to the WebSocket stage). */
export interface ChannelHandler {
  data(chunk: Uint8Array): void;
  /** The peer ended or the connection failed; called once. */
  end(): void;
}

export interface ByteChannel {
  /** Sets the handler and starts (or keeps) reading. */
  receive(handler: ChannelHandler): void;
  pause(): void;
  resume(): void;
  /** Writes `parts` in order, after every earlier write; rejects once the connection is broken. */
  write(...parts: Uint8Array[]): Promise<void>;
  /** Bytes passed to write() and not yet written. */
  readonly buffered: number;
  /**
   * Ends the write side after the pending writes and closes once the peer has ended too
   * (or after `LINGER_MS`): a lingering close (lingering_close.ts), since closing at
   * once could reset the connection and lose the last bytes sent when the peer's own bytes
   * are still unread. The handler hears nothing more.
   */
  end(): void;
  /** Closes at once. */
  destroy(): void;
  /** Resolves once the connection is closed. */
  readonly closed: Promise<void>;
}

/**
 * A read buffer per connection that starts small and doubles while reads fill it, so
 * that thousands of idle connections (or connections stalled before their upgrade) pin
 * 1 KiB each rather than a full-size buffer.
 */
export class ReadBuffer {
  static readonly MIN = 1024;
  static readonly MAX = 64 * 1024;
  bytes = new Uint8Array(ReadBuffer.MIN);

  /** Called after each read of `n` bytes. */
  filled(n: number): void {
    const size = this.bytes.length;
    if (n === size && size < ReadBuffer.MAX) this.bytes = new Uint8Array(size * 2);
    else if (n < size / 8 && size > ReadBuffer.MIN) this.bytes = new Uint8Array(size / 2);
  }
}

/** A channel over a plain connection. */
export function connChannel(conn: Deno.Conn): ByteChannel {
  const buffer = new ReadBuffer();
  let handler: ChannelHandler | undefined;
  let paused = false;
  let reading = false;
  let ended = false;
  let closed = false;
  let resolveClosed!: () => void;
  const closedPromise = new Promise<void>((r) => resolveClosed = r);
  let chain = Promise.resolve();
  let buffered = 0;
  let lingering = false;

  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // already closed
    }
    resolveClosed();
  };
  const finish = () => {
    if (ended) return;
    ended = true;
    handler?.end();
  };
  const pump = async () => {
    reading = true;
    try {
      while (!paused && !closed) {
        const n = await conn.read(buffer.bytes);
        if (n === null) break;
        const chunk = buffer.bytes.slice(0, n);
        buffer.filled(n);
        handler?.data(chunk);
      }
    } catch {
      // reset or closed under us: the same as the end
    } finally {
      reading = false;
    }
    if (!paused || closed) {
      finish();
      close();
    }
  };
  return {
    receive(next) {
      handler = next;
      if (!reading && !paused) pump();
    },
    pause() {
      paused = true;
    },
    resume() {
      if (!paused || lingering) return;
      paused = false;
      if (!reading && !closed) pump();
    },
    write(...parts) {
      for (const p of parts) buffered += p.length;
      chain = chain.then(async () => {
        for (const p of parts) {
          if (closed) throw new Error("connection closed");
          let written = 0;
          while (written < p.length) written += await conn.write(p.subarray(written));
          buffered -= p.length;
        }
      });
      return chain;
    },
    get buffered() {
      return buffered;
    },
    end() {
      if (lingering || closed) return;
      lingering = true;
      handler = undefined;
      // The pump stops after the read it may have under way; from the last write on,
      // lingeringClose is the only reader (what it reads is discarded).
      paused = true;
      chain.then(() => closed ? undefined : lingeringClose(conn, close), close);
    },
    destroy: close,
    closed: closedPromise,
  };
}

/** A channel over a TLS session (node:tls). */
export function tlsChannel(socket: TLSSocket): ByteChannel {
  let handler: ChannelHandler | undefined;
  let ended = false;
  const closed = new Promise<void>((resolve) =>
    socket.once("close", () => {
      finish();
      resolve();
    })
  );
  const finish = () => {
    if (ended) return;
    ended = true;
    handler?.end();
  };
  socket.on(
    "data",
    (chunk: Buffer) => handler?.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)),
  );
  socket.on("end", finish);
  socket.on("error", finish);
  return {
    receive(next) {
      handler = next;
    },
    pause: () => void socket.pause(),
    resume: () => void socket.resume(),
    write(...parts) {
      return new Promise((resolve, reject) => {
        if (socket.destroyed) return reject(new Error("connection closed"));
        const last = parts.length - 1;
        parts.forEach((p, i) =>
          socket.write(Buffer.from(p), i < last ? undefined : (err) => err ? reject(err) : resolve())
        );
      });
    },
    get buffered() {
      return socket.writableLength;
    },
    end() {
      handler = undefined;
      lingeringEnd(socket);
    },
    destroy: () => void socket.destroy(),
    closed,
  };
}
