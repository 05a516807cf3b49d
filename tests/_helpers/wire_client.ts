/**
 * A raw MQTT client over real TCP for tests against a broker process: it sends
 * typed packets through our own codec or arbitrary bytes (hostile input, bytes
 * a normal client library refuses to produce), decodes what comes back, and
 * tells when the broker closed the connection.
 */
import { decodePacket, encodePacket } from "../../src/protocol/codec.ts";
import { FrameSplitter } from "../../src/protocol/frame_stream.ts";
import {
  type Packet,
  PacketType,
  type ProtocolLevel,
  type PublishPacket,
} from "../../src/protocol/packet.ts";
import type { PacketOf } from "./packet_queue.ts";

export interface WireConnectOptions {
  clientId?: string;
  level?: ProtocolLevel;
  keepAlive?: number;
  properties?: Extract<Packet, { type: typeof PacketType.CONNECT }>["properties"];
  timeoutMs?: number;
}

export class WireClient {
  readonly level: ProtocolLevel;
  readonly #conn: Deno.TcpConn;
  readonly #splitter = new FrameSplitter();
  readonly #received: Packet[] = [];
  #waiter: (() => void) | null = null;
  #ended = false;
  #nextId = 1;
  /** Packets that did not decode (the broker sent something our codec refuses). */
  readonly undecodable: string[] = [];

  private constructor(conn: Deno.TcpConn, level: ProtocolLevel) {
    this.#conn = conn;
    this.level = level;
    this.#pump();
  }

  /** A TCP connection to 127.0.0.1:`port` that has sent nothing yet. */
  static async open(port: number, level: ProtocolLevel = 5): Promise<WireClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new WireClient(conn, level);
  }

  /** Opens a connection, sends CONNECT and waits for the CONNACK. */
  static async connect(port: number, options: WireConnectOptions = {}): Promise<WireClient> {
    const level = options.level ?? 5;
    const client = await WireClient.open(port, level);
    await client.send({
      type: PacketType.CONNECT,
      protocolName: "MQTT",
      protocolLevel: level,
      clean: true,
      keepAlive: options.keepAlive ?? 60,
      clientId: options.clientId ?? `wire-${crypto.randomUUID().slice(0, 8)}`,
      properties: options.properties,
    });
    const connack = await client.expect(PacketType.CONNACK, options.timeoutMs);
    if (connack.reasonCode !== 0) {
      throw new Error(`CONNACK refused with 0x${connack.reasonCode.toString(16)}`);
    }
    return client;
  }

  async #pump(): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        // Frames are views into the chunk: decode them before the next read reuses the buffer.
        for (const frame of this.#splitter.push(buffer.slice(0, n))) {
          try {
            this.#received.push(decodePacket(frame, this.level));
          } catch (err) {
            this.undecodable.push(String(err));
          }
        }
        this.#wake();
      }
    } catch {
      // reset by the peer: the same as an end for these tests
    }
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  /** Writes all of `bytes` (a TCP write may take only part of a buffer). Rejects once the peer is gone. */
  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
  }

  send(packet: Packet): Promise<void> {
    return this.write(encodePacket(packet, this.level));
  }

  /** The next packet from the broker; rejects on timeout or when the connection ends first. */
  async next(timeoutMs = 5000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    while (this.#received.length === 0) {
      if (this.#ended) throw new Error("connection closed while waiting for a packet");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return this.#received.shift()!;
  }

  async expect<T extends Packet["type"]>(type: T, timeoutMs?: number): Promise<PacketOf<T>> {
    const packet = await this.next(timeoutMs);
    if (packet.type !== type) throw new Error(`expected packet type ${type}, got ${packet.type}`);
    return packet as PacketOf<T>;
  }

  /** Resolves with what arrived before the broker closed the connection; rejects after `timeoutMs`. */
  async closedByBroker(timeoutMs = 5000): Promise<Packet[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#ended) {
      if (Date.now() > deadline) throw new Error(`connection still open after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        setTimeout(resolve, Math.min(50, deadline - Date.now()));
      });
    }
    return this.#received.splice(0);
  }

  get isClosed(): boolean {
    return this.#ended;
  }

  /** Packets received and not yet taken. */
  get pending(): readonly Packet[] {
    return this.#received;
  }

  packetId(): number {
    const id = this.#nextId;
    this.#nextId = id === 65535 ? 1 : id + 1;
    return id;
  }

  async subscribe(filter: string, qos: 0 | 1 | 2 = 1): Promise<void> {
    const packetId = this.packetId();
    await this.send({
      type: PacketType.SUBSCRIBE,
      packetId,
      subscriptions: [{ filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    const suback = await this.expect(PacketType.SUBACK);
    if (suback.reasonCodes[0] >= 0x80) throw new Error(`SUBSCRIBE ${filter} refused`);
  }

  publish(topic: string, payload: Uint8Array, options: Partial<PublishPacket> = {}): Promise<void> {
    return this.send({
      type: PacketType.PUBLISH,
      topic,
      payload,
      qos: options.qos ?? 0,
      retain: options.retain ?? false,
      dup: false,
      packetId: options.packetId,
      properties: options.properties,
    });
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}
