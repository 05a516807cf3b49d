/**
 * A raw MQTT client on a real socket (TCP, or TLS with `Deno.connectTls`) for
 * tests against broker processes (this one or Mosquitto) where a library client
 * would hide what is on the wire: it sends typed packets through the project's
 * own codec or arbitrary bytes (hostile input a library refuses to produce),
 * decodes what the broker sends, and records how the connection ended (a clean
 * EOF, a reset, or the client's own close).
 */
import { encodePacket } from "../../src/protocol/codec.ts";
import {
  type ConnackPacket,
  type ConnectPacket,
  type Packet,
  PacketType,
  type ProtocolLevel,
  type PublishPacket,
} from "../../src/protocol/packet.ts";
import { type PacketOf, PacketQueue } from "./packet_queue.ts";

/** How the connection ended, as this client saw it. */
export type Ending = "eof" | "reset" | "closed by client";

export interface WireClientOptions {
  port: number;
  hostname?: string;
  /** Protocol level of what is sent and of what the broker sends is decoded at (5 by default). */
  level?: ProtocolLevel;
  /** Connect with TLS, trusting these PEM CA certificates. */
  tlsCaCerts?: string[];
  /** How long next(), expect() and closedByBroker() wait by default, in ms (5000). */
  timeoutMs?: number;
  /** Hands every packet to this callback instead of queueing it for next(). */
  onPacket?: (packet: Packet) => void;
}

/** Fields of a CONNECT (protocol name and level follow the client's level). */
export type ConnectFields = Partial<Omit<ConnectPacket, "type" | "protocolName" | "protocolLevel">>;

export class WireClient {
  readonly conn: Deno.Conn;
  level: ProtocolLevel;
  readonly timeoutMs: number;
  /** The CONNACK that connect() received. */
  connack: ConnackPacket | undefined;
  readonly #queue: PacketQueue;
  #closedByUs = false;
  #paused: PromiseWithResolvers<void> | undefined;
  #nextId = 1;
  /** The error that ended the reads, when they did not end with EOF. */
  readError: Error | undefined;
  /** The first error a write met through sendRaw() or send() (their writes after it are skipped). */
  writeError: Error | undefined;
  /** Resolves once the read side has ended. */
  readonly ended: Promise<Ending>;

  private constructor(conn: Deno.Conn, options: WireClientOptions) {
    this.conn = conn;
    this.level = options.level ?? 5;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.#queue = new PacketQueue(options.onPacket);
    this.ended = this.#pump();
  }

  /** A connection that has sent nothing yet. */
  static async open(options: WireClientOptions): Promise<WireClient> {
    const hostname = options.hostname ?? "127.0.0.1";
    if (options.tlsCaCerts) {
      const tls = await Deno.connectTls({ hostname, port: options.port, caCerts: options.tlsCaCerts });
      return new WireClient(tls, options);
    }
    // Nagle's algorithm stays on (the OS default): the differential runner's settling was
    // written against it, and with TCP_NODELAY its "Receive Maximum 1 in 3 rounds" scenario
    // sees Mosquitto's next message after the step that should have found it.
    return new WireClient(await Deno.connect({ hostname, port: options.port }), options);
  }

  /**
   * Opens a connection, sends CONNECT with `fields` (a clean start, keep-alive 60 s and a
   * random client id unless given) and waits for a CONNACK that accepts it.
   */
  static async connect(options: WireClientOptions, fields: ConnectFields = {}): Promise<WireClient> {
    const client = await WireClient.open(options);
    await client.send({
      type: PacketType.CONNECT,
      protocolName: client.level === 3 ? "MQIsdp" : "MQTT",
      protocolLevel: client.level,
      clean: true,
      keepAlive: 60,
      clientId: `wire-${crypto.randomUUID().slice(0, 8)}`,
      ...fields,
    });
    const connack = await client.expect(PacketType.CONNACK);
    client.connack = connack;
    if (connack.reasonCode !== 0) {
      client.close();
      throw new Error(`CONNACK refused with 0x${connack.reasonCode.toString(16)}`);
    }
    return client;
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
        this.#queue.receive(buffer.slice(0, n), this.level);
      }
    } catch (err) {
      // A reset, or the read failing because this client closed the socket itself.
      ending = this.#closedByUs ? "closed by client" : "reset";
      this.readError = err as Error;
    }
    this.#queue.end(ending);
    return ending;
  }

  /** Writes all of `bytes` (a write may take only part of a buffer); rejects once the peer is gone. */
  async write(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length;) at += await this.conn.write(bytes.subarray(at));
  }

  /** Writes bytes whole, as write(); an error is recorded in writeError, not thrown. */
  async sendRaw(bytes: Uint8Array): Promise<void> {
    if (this.writeError !== undefined || this.#closedByUs) return;
    try {
      await this.write(bytes);
    } catch (err) {
      this.writeError ??= err as Error;
    }
  }

  /** Encodes and writes a packet; an error is recorded in writeError, not thrown. */
  send(packet: Packet): Promise<void> {
    return this.sendRaw(encodePacket(packet, this.level));
  }

  /** How the connection ended, or undefined while it is open. */
  get ending(): Ending | undefined {
    return this.#queue.ending as Ending | undefined;
  }

  get isClosed(): boolean {
    return this.#queue.ending !== undefined;
  }

  /** Packets received and not taken yet. */
  get pending(): readonly Packet[] {
    return this.#queue.pending;
  }

  /** The next packet; rejects on timeout or when the connection ended first. */
  next(timeoutMs = this.timeoutMs): Promise<Packet> {
    return this.#queue.next(timeoutMs);
  }

  /** The next packet, which must be of `type`. */
  expect<T extends Packet["type"]>(type: T, timeoutMs = this.timeoutMs): Promise<PacketOf<T>> {
    return this.#queue.expect(type, timeoutMs);
  }

  /** Resolves with what arrived and was not taken before the broker closed the connection; rejects after `timeoutMs`. */
  async closedByBroker(timeoutMs = this.timeoutMs): Promise<Packet[]> {
    if (await this.#queue.waitEnded(timeoutMs) === undefined) {
      throw new Error(`connection still open after ${timeoutMs} ms`);
    }
    return this.#queue.takeAll();
  }

  /** Waits until the read side ended or `timeoutMs` passed; returns the ending, if any. */
  async waitEnded(timeoutMs: number): Promise<Ending | undefined> {
    return await this.#queue.waitEnded(timeoutMs) as Ending | undefined;
  }

  /** Waits up to `ms` for one more packet (or the end); true when one is queued. */
  waitForPacket(ms: number): Promise<boolean> {
    return this.#queue.waitForPacket(ms);
  }

  packetId(): number {
    const id = this.#nextId;
    this.#nextId = id === 65535 ? 1 : id + 1;
    return id;
  }

  /** Subscribes to one filter and waits for a SUBACK granting it. */
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
