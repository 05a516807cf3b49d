/**
 * A raw MQTT client on a real socket (TCP, or TLS with `Deno.connectTls`) that
 * speaks through the project's own codec: it sends typed packets or raw bytes,
 * decodes what the broker sends into a queue, and records how the connection
 * ended (a clean EOF, a reset, or the client's own close). Tests against broker
 * processes (this one or Mosquitto) use it where a library client would hide
 * what was on the wire.
 */
import { decodePacket, encodePacket } from "../../src/protocol/codec.ts";
import { FrameSplitter } from "../../src/protocol/frame_stream.ts";
import type { Packet, ProtocolLevel } from "../../src/protocol/packet.ts";
import type { PacketOf } from "./packet_queue.ts";

/** How the connection ended, as this client saw it. */
export type Ending = "eof" | "reset" | "closed by client";

export interface TcpClientOptions {
  port: number;
  hostname?: string;
  /** Protocol level used to decode what the broker sends (5 decodes reason codes and properties). */
  level?: ProtocolLevel;
  /** Connect with TLS, trusting these PEM CA certificates. */
  tlsCaCerts?: string[];
  /** Hands every packet to this callback instead of queueing it for next(). */
  onPacket?: (packet: Packet) => void;
}

export class TcpClient {
  readonly conn: Deno.Conn;
  level: ProtocolLevel;
  readonly #splitter = new FrameSplitter();
  readonly #received: Packet[] = [];
  #waiter: (() => void) | null = null;
  #ending: Ending | undefined;
  #closedByUs = false;
  #paused: PromiseWithResolvers<void> | undefined;
  /** The error that ended the reads, when they did not end with EOF. */
  readError: Error | undefined;
  /** The first error a write met (writes after it are skipped). */
  writeError: Error | undefined;
  /** Resolves once the read side has ended. */
  readonly ended: Promise<Ending>;

  readonly #onPacket: ((packet: Packet) => void) | undefined;

  private constructor(conn: Deno.Conn, level: ProtocolLevel, onPacket?: (packet: Packet) => void) {
    this.conn = conn;
    this.level = level;
    this.#onPacket = onPacket;
    this.ended = this.#pump();
  }

  static async open(options: TcpClientOptions): Promise<TcpClient> {
    const hostname = options.hostname ?? "127.0.0.1";
    const conn = options.tlsCaCerts
      ? await Deno.connectTls({ hostname, port: options.port, caCerts: options.tlsCaCerts })
      : await Deno.connect({ hostname, port: options.port });
    return new TcpClient(conn, options.level ?? 4, options.onPacket);
  }

  async #pump(): Promise<Ending> {
    const buffer = new Uint8Array(64 * 1024);
    let ending: Ending = "eof";
    try {
      for (;;) {
        if (this.#paused !== undefined) await this.#paused.promise;
        const n = await this.conn.read(buffer);
        if (n === null) break;
        // Copied: frames are views and the buffer is reused by the next read.
        for (const frame of this.#splitter.push(buffer.slice(0, n))) {
          const packet = decodePacket(frame, this.level);
          if (this.#onPacket !== undefined) this.#onPacket(packet);
          else this.#received.push(packet);
        }
        this.#wake();
      }
    } catch (err) {
      // A reset, or the read failing because this client closed the socket itself.
      ending = this.#closedByUs ? "closed by client" : "reset";
      this.readError = err as Error;
    }
    this.#ending = ending;
    this.#wake();
    return ending;
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  /** Encodes and writes a packet; a write error is recorded, not thrown. */
  send(packet: Packet): Promise<void> {
    return this.sendRaw(encodePacket(packet, this.level));
  }

  /** Writes bytes whole (looping over partial writes); a write error is recorded, not thrown. */
  async sendRaw(bytes: Uint8Array): Promise<void> {
    if (this.writeError !== undefined || this.#closedByUs) return;
    try {
      let offset = 0;
      while (offset < bytes.length) offset += await this.conn.write(bytes.subarray(offset));
    } catch (err) {
      this.writeError ??= err as Error;
    }
  }

  /** How the connection ended, or undefined while it is open. */
  get ending(): Ending | undefined {
    return this.#ending;
  }

  /** Packets received and not taken yet. */
  get pending(): readonly Packet[] {
    return this.#received;
  }

  /** The next packet; rejects on timeout or when the connection ended first. */
  async next(timeoutMs = 2000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    while (this.#received.length === 0) {
      if (this.#ending !== undefined) throw new Error(`connection ended (${this.#ending}) before a packet`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${timeoutMs} ms`);
      await this.#wait(left);
    }
    return this.#received.shift()!;
  }

  /** The next packet, which must be of `type`. */
  async expect<T extends Packet["type"]>(type: T, timeoutMs?: number): Promise<PacketOf<T>> {
    const packet = await this.next(timeoutMs);
    if (packet.type !== type) throw new Error(`expected packet type ${type}, got ${describe(packet)}`);
    return packet as PacketOf<T>;
  }

  /** Waits until the read side ended or `timeoutMs` passed; returns the ending, if any. */
  async waitEnded(timeoutMs: number): Promise<Ending | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.#ending === undefined) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await this.#wait(left);
    }
    return this.#ending;
  }

  /** Resolves after `ms`, or earlier when a packet arrives or the connection ends. */
  #wait(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    return new Promise<void>((resolve) => {
      this.#waiter = resolve;
      timer = setTimeout(resolve, ms);
    }).finally(() => clearTimeout(timer));
  }

  /** Waits up to `ms` for one more packet (or the end); true when one is queued. */
  async waitForPacket(ms: number): Promise<boolean> {
    if (this.#received.length === 0 && this.#ending === undefined) await this.#wait(ms);
    return this.#received.length > 0;
  }

  /**
   * Stops reading after the read in progress: what the broker sends then fills the socket
   * buffers (a client busy writing, or simply slow).
   */
  pauseReads(): void {
    this.#paused ??= Promise.withResolvers<void>();
  }

  resumeReads(): void {
    this.#paused?.resolve();
    this.#paused = undefined;
  }

  /** Closes the socket without a DISCONNECT (the broker sees an abnormal end). */
  close(): void {
    if (this.#closedByUs) return;
    this.#closedByUs = true;
    this.resumeReads();
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

/** A packet as readable text for assertion messages (payloads as text, long ones cut). */
export function describe(packet: Packet): string {
  return JSON.stringify(packet, (_k, v) => {
    if (!(v instanceof Uint8Array)) return v;
    const text = new TextDecoder().decode(v.subarray(0, 40));
    return v.length > 40 ? `${text}… (${v.length} bytes)` : text;
  });
}
