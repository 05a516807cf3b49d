/**
 * TCP listener: `Deno.listen`, TCP_NODELAY, and per connection one reused read
 * buffer that grows while reads fill it and shrinks when the connection goes
 * quiet, so an idle connection pins only a small buffer. Frames are read on
 * demand (a FrameSource, see socket.ts): the next read happens only after the
 * engine has handled the previous batch, which keeps frame views valid.
 *
 * @module
 */
import { FrameSplitter, type FrameSplitterOptions } from "../protocol/frame_stream.ts";
import type { Frame } from "../protocol/packet.ts";
import { AcceptLoop, type Slot } from "./accept_loop.ts";
import { ConnectionGate, ListenerStats } from "./admission.ts";
import type { EncodedPublish } from "../protocol/publish.ts";
import { BatchWriter } from "./batch_writer.ts";
import { lingeringClose } from "./lingering_close.ts";
import { readProxyHeader } from "./proxy_protocol.ts";
import { borrowReadBuffer, MIN_READ, nextReadSize, returnReadBuffer } from "./read_buffers.ts";
import type { FrameSource, Socket } from "./socket.ts";

export interface TcpOptions {
  hostname: string;
  port: number;
  name?: string;
  /** Packet size limits and the broker's receive budget, shared by every connection's framer. */
  framing?: FrameSplitterOptions;
  /** Disable Nagle's algorithm (default true). */
  noDelay?: boolean;
  /** Expect a PROXY protocol v1/v2 header first; its address becomes the client's. */
  proxyProtocol?: boolean;
  /** Connections accepted at once on this listener (0 = no limit), counted from accept. */
  maxConnections?: number;
  /** The broker-wide connection budget shared by all listeners (default: this listener's alone). */
  gate?: ConnectionGate;
  /** Counters for /metrics (default: fresh ones). */
  stats?: ListenerStats;
  /** Time allowed for the PROXY header (default 10 s, as `limits.connect_timeout_ms`). */
  handshakeTimeoutMs?: () => number;
  onError?: (err: unknown) => void;
}

/** A running listener. */
export interface TcpListener {
  readonly type: "tcp";
  readonly name: string;
  readonly hostname: string;
  readonly port: number;
  readonly stats: ListenerStats;
  close(): Promise<void>;
}

/** The handshake time of listeners made without one (the default `limits.connect_timeout_ms`). */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** What a socket tells the listener that accepted it once it has closed (its admission slot). */
interface ClosedNotice {
  release(): void;
}

/**
 * One TCP (or TLS, for the bridge's client side) connection: the engine's Socket and its
 * FrameSource in one object, with methods rather than closures. One exists per connection
 * and most connections sit idle, so what it keeps is kept small: a read buffer of
 * MIN_READ bytes while the client is quiet (read_buffers.ts), no `closed` promise unless
 * someone asks for one, the peer's address formatted when first asked for.
 */
class TcpSocket implements Socket, FrameSource {
  readonly listener: string;
  readonly #conn: Deno.Conn;
  readonly #splitter: FrameSplitter;
  readonly #writer: BatchWriter;
  readonly #notice: ClosedNotice | undefined;
  #remoteAddress: string | undefined;
  /** The connection's own small buffer, and the one the next read goes into (it, or a borrowed one). */
  readonly #own = new Uint8Array(MIN_READ);
  #buffer: Uint8Array = this.#own;
  /** Bytes the last read returned (0 before the first). */
  #lastRead = 0;
  #initial: Uint8Array | undefined;
  #ended = false;
  #connClosed = false;
  #wrote = false;
  #writeFailed = false;
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;

  constructor(conn: Deno.Conn, listener: string, options: ConnSocketOptions, notice?: ClosedNotice) {
    this.#conn = conn;
    this.listener = listener;
    this.#remoteAddress = options.remoteAddress;
    this.#notice = notice;
    // Bytes already read (after a PROXY header) are framed first.
    const initial = options.initial;
    if (initial !== undefined && initial.length > 0) this.#initial = initial;
    this.#splitter = new FrameSplitter(options.framing);
    // One closure each for the writer (its sink and two notices; methods below do the work).
    this.#writer = new BatchWriter((bytes) => this.writeSome(bytes), {
      onClose: () => this.writerClosed(),
      onError: () => this.writeFailed(),
    });
  }

  // What the writer writes to and tells.
  writeSome(bytes: Uint8Array): Promise<number> {
    this.#wrote = true;
    return this.#conn.write(bytes);
  }

  // The engine closed after its last packet (a DISCONNECT, a refusing CONNACK): linger so that
  // the packet reaches a client that is still sending. A failed write means the peer is gone;
  // a connection the broker never wrote to has nothing to deliver (an attacker streaming a
  // huge declared CONNECT is cut off at once, not drained for seconds).
  writerClosed(): void {
    if (this.#writeFailed || this.#connClosed || !this.#wrote) this.#closeConn();
    else lingeringClose(this.#conn, () => this.#closeConn());
  }

  writeFailed(): void {
    this.#writeFailed = true;
  }

  get remoteAddress(): string {
    if (this.#remoteAddress === undefined) {
      const remote = this.#conn.remoteAddr as Deno.NetAddr;
      this.#remoteAddress = `${remote.hostname}:${remote.port}`;
    }
    return this.#remoteAddress;
  }

  get frames(): FrameSource {
    return this;
  }

  get closed(): Promise<void> {
    if (this.#closed === undefined) {
      this.#closed = this.#connClosed ? Promise.resolve() : new Promise((r) => this.#resolveClosed = r);
    }
    return this.#closed;
  }

  get bufferedBytes(): number {
    return this.#writer.bufferedBytes;
  }

  write(bytes: Uint8Array): void {
    this.#writer.write(bytes);
  }

  writePublish(encoded: EncodedPublish, packetId: number): void {
    this.#writer.writePublish(encoded, packetId);
  }

  close(): void {
    this.#writer.close();
  }

  // The engine asks for the next batch only after handling the previous one, so the next
  // read (into a buffer the previous batch's views may point into) waits for it.
  // Written with then() rather than as an async function: with thousands of connections each
  // waiting seconds for its next packet, every object a pending read holds is promoted to the
  // old generation, and an async frame holds several more than one reaction does.
  next(): Promise<Frame[] | null> {
    // The previous batch is handled: its array and frames go back to the framer's spares.
    this.#splitter.recycle();
    const initial = this.#initial;
    if (initial !== undefined) {
      this.#initial = undefined;
      let batch: Frame[];
      try {
        batch = this.#splitter.push(initial, initial.length);
      } catch (err) {
        // As from a read: a first packet over its limit right after the PROXY header.
        return Promise.reject(err);
      }
      if (batch.length > 0) return Promise.resolve(batch);
    }
    if (this.#ended) return Promise.resolve(null);
    return this.#read();
  }

  #read(): Promise<Frame[] | null> {
    this.#sizeBuffer();
    return this.#conn.read(this.#buffer).then(this.#settled, this.#settled);
  }

  /**
   * How the read settled: a byte count, null at the end of the stream, or the error (one
   * callback for both). Malformed input throws, which rejects the batch's promise.
   */
  readonly #settled = (result: unknown): Frame[] | null | Promise<Frame[] | null> => {
    if (typeof result !== "number") { // null (EOF) or a read error: the peer is gone
      this.#end();
      return null;
    }
    if (this.#ended) return null; // closed meanwhile: a late read is not framed any more
    this.#lastRead = result;
    const batch = this.#splitter.push(this.#buffer, result);
    return batch.length > 0 ? batch : this.#read();
  };

  /**
   * Picks the buffer of the next read from what the last one brought. A borrowed buffer goes
   * back here, where the batch read into it has been handled (the engine asked for the next).
   */
  #sizeBuffer(): void {
    const current = this.#buffer;
    const size = this.#lastRead === 0 ? MIN_READ : nextReadSize(this.#lastRead, current.length);
    if (size === current.length) return;
    if (current !== this.#own) returnReadBuffer(current);
    this.#buffer = size === MIN_READ ? this.#own : borrowReadBuffer(size);
  }

  #end(): void {
    if (!this.#ended) {
      this.#ended = true;
      // No read is pending any more: a borrowed buffer can go back.
      if (this.#buffer !== this.#own) returnReadBuffer(this.#buffer);
      this.#buffer = this.#own;
      // A packet cut off by the close gives its bytes back (to the broker's budget and the OS).
      this.#splitter.discard();
      this.#writer.close();
      this.#closeConn();
    }
  }

  #closeConn(): void {
    if (this.#connClosed) return;
    this.#connClosed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed by the peer
    }
    this.#resolveClosed?.();
    this.#notice?.release();
  }
}

/** Options of {@link connSocket}. */
export interface ConnSocketOptions {
  framing?: FrameSplitterOptions;
  /** The client's address when it is not the peer's (PROXY protocol). */
  remoteAddress?: string;
  /** Bytes already read from the connection (after a PROXY header). */
  initial?: Uint8Array;
}

/** Wraps one connection (exported for the bridge's client side, over TCP or TLS). */
export function connSocket(conn: Deno.Conn, listener: string, options: ConnSocketOptions = {}): Socket {
  return new TcpSocket(conn, listener, options);
}

/** Listens on TCP and hands every accepted connection to `onSocket`. */
export function listenTcp(options: TcpOptions, onSocket: (socket: Socket) => void): TcpListener {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp" });
  const addr = listener.addr as Deno.NetAddr;
  const name = options.name ?? `tcp:${addr.hostname}:${addr.port}`;
  const stats = options.stats ?? new ListenerStats(name, "tcp");
  const accepted = async (conn: Deno.TcpConn, slot: Slot) => {
    if (options.noDelay !== false) conn.setNoDelay(true);
    let remoteAddress: string | undefined;
    let initial: Uint8Array | undefined;
    if (options.proxyProtocol) ({ remoteAddress, rest: initial } = await readProxyHeader(conn));
    if (slot.released) return; // the header did not come in time
    slot.handedOver();
    // The socket gives the slot back when it closes (no promise or closure per connection for that).
    onSocket(new TcpSocket(conn, name, { framing: options.framing, remoteAddress, initial }, slot));
  };
  const loop = new AcceptLoop(listener, {
    stats,
    gate: options.gate ?? new ConnectionGate(),
    maxConnections: options.maxConnections ?? 0,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? (() => DEFAULT_HANDSHAKE_TIMEOUT_MS),
    // Only a PROXY header comes before MQTT on tcp; without one the engine's CONNECT timer is all.
    handshake: options.proxyProtocol === true,
  }, (conn, slot) => {
    accepted(conn, slot).catch((err) => {
      options.onError?.(err);
      try {
        conn.close();
      } catch {
        // already closed
      }
      slot.release();
    });
  });
  return {
    type: "tcp",
    name,
    hostname: addr.hostname,
    port: addr.port,
    stats,
    close: () => loop.close(),
  };
}
