/**
 * A scripted MQTT client for engine tests: it talks to a Broker over an
 * in-memory socket pair, sends typed packets (or raw bytes) and awaits the
 * broker's replies decoded, with a timeout so a missing reply fails fast.
 */
import { encodePacket } from "../../src/protocol/codec.ts";
import {
  type ConnackPacket,
  type ConnectPacket,
  type Packet,
  PacketType,
  type ProtocolLevel,
  type PublishPacket,
  type QoS,
  type SubackPacket,
  type SubscriptionRequest,
} from "../../src/protocol/packet.ts";
import type { Socket } from "../../src/transport/socket.ts";

/** A broker or an engine: anything that serves a socket. */
type Served = { handle(socket: Socket): void };
import { memorySocketPair } from "./memory_socket.ts";
import { type PacketOf, PacketQueue } from "./packet_queue.ts";

export interface ConnectOptions extends Partial<Omit<ConnectPacket, "type">> {
  /** How long to wait for a reply before failing, in ms. */
  timeoutMs?: number;
  /** The address the broker sees the client at (default 127.0.0.1:50000). */
  remoteAddress?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class TestClient {
  readonly level: ProtocolLevel;
  readonly #client: ReturnType<typeof memorySocketPair>["client"];
  readonly #queue = new PacketQueue();
  #nextId = 1;
  readonly timeoutMs: number;

  private constructor(broker: Served, level: ProtocolLevel, timeoutMs: number, remoteAddress: string) {
    this.level = level;
    this.timeoutMs = timeoutMs;
    const { socket, client } = memorySocketPair({ remoteAddress });
    this.#client = client;
    broker.handle(socket);
    this.#pumpReads();
  }

  /** Opens a connection and sends nothing yet. */
  static open(
    broker: Served,
    level: ProtocolLevel = 4,
    timeoutMs = 2000,
    remoteAddress = "127.0.0.1:50000",
  ): TestClient {
    return new TestClient(broker, level, timeoutMs, remoteAddress);
  }

  /** Opens a connection, sends CONNECT and returns the client with the CONNACK. */
  static async connect(
    broker: Served,
    options: ConnectOptions = {},
  ): Promise<{ client: TestClient; connack: ConnackPacket }> {
    const level = options.protocolLevel ?? 4;
    const client = TestClient.open(broker, level, options.timeoutMs, options.remoteAddress);
    client.send({
      type: PacketType.CONNECT,
      protocolName: level === 3 ? "MQIsdp" : "MQTT",
      protocolLevel: level,
      bridge: options.bridge,
      clean: options.clean ?? true,
      keepAlive: options.keepAlive ?? 0,
      clientId: options.clientId ?? "",
      username: options.username,
      password: options.password,
      will: options.will,
      properties: options.properties,
    });
    const connack = await client.expect(PacketType.CONNACK);
    return { client, connack };
  }

  async #pumpReads(): Promise<void> {
    for (;;) {
      const chunk = await this.#client.read();
      if (chunk === null) break;
      this.#queue.receive(chunk, this.level);
    }
    this.#queue.end("closed");
  }

  send(packet: Packet): void {
    this.#client.write(encodePacket(packet, this.level));
  }

  sendRaw(bytes: Uint8Array | number[]): void {
    this.#client.write(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
  }

  /** The next packet from the broker; rejects on timeout or when the connection ends first. */
  next(timeoutMs = this.timeoutMs): Promise<Packet> {
    return this.#queue.next(timeoutMs);
  }

  /** The next packet, which must be of `type`. */
  expect<T extends Packet["type"]>(type: T, timeoutMs = this.timeoutMs): Promise<PacketOf<T>> {
    return this.#queue.expect(type, timeoutMs);
  }

  /** Resolves true if no packet arrives within `ms`. */
  async silentFor(ms = 50): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.#queue.pending.length === 0;
  }

  /** Resolves once the broker closed the connection (rejects after the timeout). */
  async closedByBroker(timeoutMs = this.timeoutMs): Promise<Packet[]> {
    if (await this.#queue.waitEnded(timeoutMs) === undefined) throw new Error("connection still open");
    return this.#queue.takeAll();
  }

  get isClosed(): boolean {
    return this.#queue.ending !== undefined;
  }

  packetId(): number {
    return this.#nextId++;
  }

  async subscribe(
    filter: string | Partial<SubscriptionRequest>[],
    qos: QoS = 0,
    properties?: SubackPacket["properties"],
  ) {
    const subscriptions: SubscriptionRequest[] = typeof filter === "string"
      ? [{ filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }]
      : filter.map((s) => ({
        filter: "",
        qos: 0,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
        ...s,
      }));
    const packetId = this.packetId();
    this.send({ type: PacketType.SUBSCRIBE, packetId, subscriptions, properties });
    return await this.expect(PacketType.SUBACK);
  }

  publish(
    topic: string,
    payload: string | Uint8Array,
    options: Partial<PublishPacket> = {},
  ): number | undefined {
    const qos = options.qos ?? 0;
    const packetId = qos > 0 ? (options.packetId ?? this.packetId()) : undefined;
    this.send({
      type: PacketType.PUBLISH,
      topic,
      payload: typeof payload === "string" ? encoder.encode(payload) : payload,
      qos,
      retain: options.retain ?? false,
      dup: options.dup ?? false,
      packetId,
      properties: options.properties,
    });
    return packetId;
  }

  /** Sends DISCONNECT (normal) and closes. */
  disconnect(reasonCode = 0, properties?: Packet extends never ? never : Record<string, unknown>): void {
    this.send({ type: PacketType.DISCONNECT, reasonCode, properties });
    this.#client.close();
  }

  /** Drops the connection without DISCONNECT (an abnormal close: the will fires). */
  drop(): void {
    this.#client.close();
  }
}

/** Payload of a PUBLISH as text. */
export function text(packet: PublishPacket): string {
  return decoder.decode(packet.payload);
}
