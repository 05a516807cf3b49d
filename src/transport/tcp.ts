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
import { BatchWriter } from "./batch_writer.ts";
import { lingeringClose } from "./lingering_close.ts";
import { readProxyHeader } from "./proxy_protocol.ts";
import type { FrameSource, Socket } from "./socket.ts";
import { writerSocket } from "./writer_socket.ts";

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

const MIN_READ = 1024;
/** A busy connection's reads grow to 256 KiB (large payloads: fewer reads and batches per message). */
const MAX_READ = 256 * 1024;

/**
 * The read side of one connection: reads on demand into one reused buffer that
 * doubles after a full read and halves after several small ones.
 */
class TcpFrames implements FrameSource {
  readonly #conn: Deno.Conn;
  readonly #splitter: FrameSplitter;
  readonly #onEnd: () => void;
  #buffer = new Uint8Array(MIN_READ);
  #smallReads = 0;
  #initial: Uint8Array | undefined;
  #ended = false;

  constructor(conn: Deno.Conn, splitter: FrameSplitter, initial: Uint8Array | undefined, onEnd: () => void) {
    this.#conn = conn;
    this.#splitter = splitter;
    this.#initial = initial;
    this.#onEnd = onEnd;
  }

  // The engine asks for the next batch only after handling the previous one, so the next
  // read (into the same buffer, which the previous batch's views point into) waits for it.
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
        batch = this.#splitter.push(initial);
      } catch (err) {
        // As from a read: the promise rejects (a first packet over its limit right after the PROXY header).
        return Promise.reject(err);
      }
      if (batch.length > 0) return Promise.resolve(batch);
    }
    if (this.#ended) return Promise.resolve(null);
    return this.#conn.read(this.#buffer).then(this.#onRead, this.#onReadError);
  }

  readonly #onRead = (n: number | null): Frame[] | null | Promise<Frame[] | null> => {
    if (this.#ended) return null; // closed meanwhile: a late read is not framed any more
    if (n === null) return this.#end();
    const batch = this.#splitter.push(this.#buffer, n);
    this.#resize(n);
    return batch.length > 0 ? batch : this.next();
  };

  readonly #onReadError = (): null => this.#end();

  #end(): null {
    if (!this.#ended) {
      this.#ended = true;
      // A packet cut off by the close gives its bytes back (to the broker's budget and the OS).
      this.#splitter.discard();
      this.#onEnd();
    }
    return null;
  }

  #resize(n: number): void {
    const size = this.#buffer.length;
    if (n === size && size < MAX_READ) {
      this.#buffer = new Uint8Array(size * 2);
      this.#smallReads = 0;
    } else if (n < size / 4 && size > MIN_READ) {
      if (++this.#smallReads >= 4) {
        this.#buffer = new Uint8Array(size / 2);
        this.#smallReads = 0;
      }
    } else {
      this.#smallReads = 0;
    }
  }
}

/** Wraps one accepted connection (exported for TLS, which shares the read/write logic). */
export function connSocket(
  conn: Deno.Conn,
  listener: string,
  options: { framing?: FrameSplitterOptions; remoteAddress?: string; initial?: Uint8Array } = {},
): Socket {
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => resolveClosed = r);
  let isClosed = false;
  const closeConn = () => {
    if (isClosed) return;
    isClosed = true;
    try {
      conn.close();
    } catch {
      // already closed by the peer
    }
    resolveClosed();
  };
  let writeFailed = false;
  let wrote = false;
  // The engine closed after its last packet (a DISCONNECT, a refusing CONNACK): linger so that
  // the packet reaches a client that is still sending. A failed write means the peer is gone;
  // a connection the broker never wrote to has nothing to deliver (an attacker streaming a
  // huge declared CONNECT is cut off at once, not drained for seconds).
  const writer = new BatchWriter((bytes) => {
    wrote = true;
    return conn.write(bytes);
  }, {
    onClose: () => writeFailed || isClosed || !wrote ? closeConn() : lingeringClose(conn, closeConn),
    onError: () => writeFailed = true,
  });
  // Bytes already read (after a PROXY header) are framed first.
  const initial = options.initial && options.initial.length > 0 ? options.initial : undefined;
  const splitter = new FrameSplitter(options.framing);
  const frames = new TcpFrames(conn, splitter, initial, () => {
    writer.close();
    closeConn();
  });
  const remote = conn.remoteAddr as Deno.NetAddr;
  return writerSocket(writer, {
    remoteAddress: options.remoteAddress ?? `${remote.hostname}:${remote.port}`,
    listener,
    frames,
    closed,
  });
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
    const socket = connSocket(conn, name, { framing: options.framing, remoteAddress, initial });
    socket.closed.then(() => slot.release());
    onSocket(socket);
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
