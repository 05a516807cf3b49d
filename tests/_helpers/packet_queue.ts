/**
 * What one end of a test connection has received and not taken yet: the bytes
 * that arrive are framed and decoded with the project's own codec, and the
 * packets handed out in order by waits that fail after a timeout or as soon as
 * the connection has ended. One piece shared by every scripted peer: the test
 * client in memory (test_client.ts), the raw client over TCP or TLS
 * (wire_client.ts) and the scripted server (scripted_server.ts).
 */
import { decodePacket } from "../../src/protocol/codec.ts";
import { FrameSplitter } from "../../src/protocol/frame_stream.ts";
import type { AckPacket, Packet, ProtocolLevel } from "../../src/protocol/packet.ts";

/** The packet interface for a packet type (the four acknowledgements share one). */
export type PacketOf<T extends Packet["type"]> = T extends AckPacket["type"] ? AckPacket
  : Extract<Packet, { type: T }>;

export class PacketQueue {
  readonly #splitter = new FrameSplitter();
  readonly #packets: Packet[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #onPacket: ((packet: Packet) => void) | undefined;
  #ending: string | undefined;

  /** With `onPacket`, every packet goes to that callback instead of the queue. */
  constructor(onPacket?: (packet: Packet) => void) {
    this.#onPacket = onPacket;
  }

  /**
   * Decodes the packets complete in `chunk` at `level` (a packet cut by the chunk's end waits
   * for the next one). Frames are views into `chunk`: it must not be reused. A packet the codec
   * refuses throws, after the ones before it are queued.
   */
  receive(chunk: Uint8Array, level: ProtocolLevel): void {
    try {
      for (const frame of this.#splitter.push(chunk)) {
        const packet = decodePacket(frame, level);
        if (this.#onPacket !== undefined) this.#onPacket(packet);
        else this.#packets.push(packet);
      }
    } finally {
      this.#wake();
    }
  }

  /** The connection ended (`how`: "eof", "reset", …): waits for a packet fail once the queue is empty. */
  end(how: string): void {
    this.#ending = how;
    this.#wake();
  }

  /** How the connection ended, or undefined while it is open. */
  get ending(): string | undefined {
    return this.#ending;
  }

  /** Packets received and not taken yet. */
  get pending(): readonly Packet[] {
    return this.#packets;
  }

  /** Takes every packet received and not taken yet. */
  takeAll(): Packet[] {
    return this.#packets.splice(0);
  }

  /** The next packet; rejects after `timeoutMs` or when the connection ended first. */
  async next(timeoutMs: number): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    while (this.#packets.length === 0) {
      if (this.#ending !== undefined) {
        throw new Error(`connection closed while waiting for a packet (${this.#ending})`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${timeoutMs} ms`);
      await this.wait(left);
    }
    return this.#packets.shift()!;
  }

  /** The next packet, which must be of `type`. */
  async expect<T extends Packet["type"]>(type: T, timeoutMs: number): Promise<PacketOf<T>> {
    const packet = await this.next(timeoutMs);
    if (packet.type !== type) throw new Error(`expected packet type ${type}, got ${describe(packet)}`);
    return packet as PacketOf<T>;
  }

  /** Waits until the connection ended or `timeoutMs` passed; returns how it ended, if it did. */
  async waitEnded(timeoutMs: number): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.#ending === undefined) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await this.wait(left);
    }
    return this.#ending;
  }

  /** Waits up to `ms` for one more packet (or the end); true when one is queued. */
  async waitForPacket(ms: number): Promise<boolean> {
    if (this.#packets.length === 0 && this.#ending === undefined) await this.wait(ms);
    return this.#packets.length > 0;
  }

  /** Resolves after `ms`, or earlier when packets arrive or the connection ends. */
  wait(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let wake: () => void = () => {};
    return new Promise<void>((resolve) => {
      wake = resolve;
      this.#waiters.add(wake);
      timer = setTimeout(resolve, ms);
    }).finally(() => {
      clearTimeout(timer);
      this.#waiters.delete(wake);
    });
  }

  #wake(): void {
    for (const wake of this.#waiters) wake();
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
