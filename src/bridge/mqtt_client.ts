/**
 * A small MQTT client over any Socket, built on the project's own codec and
 * framing: what a bridge needs and nothing more. CONNECT/CONNACK, PUBLISH at
 * QoS 0/1/2 in both directions with a send window, SUBSCRIBE/UNSUBSCRIBE,
 * keep-alive, DISCONNECT. A received QoS 1/2 message is acknowledged only once
 * the application has taken it (its handler resolved), so a bridge can pass the
 * acknowledgement through from the other side.
 *
 * @module
 */
import { decodePacket, encodePacket } from "../protocol/codec.ts";
import {
  type ConnackPacket,
  type ConnectPacket,
  type Packet,
  PacketType,
  type Properties,
  type ProtocolLevel,
  type PublishPacket,
  type QoS,
  Reason,
  type SubscriptionRequest,
} from "../protocol/packet.ts";
import type { Socket } from "../transport/socket.ts";
import { InboundAcks } from "./inbound_acks.ts";
import { PendingReplies } from "./pending_replies.ts";

/** A message to publish. */
export interface OutgoingMessage {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  properties?: Properties;
  /** QoS 1/2: this is a retransmission of a message sent before (on an earlier connection) [MQTT-3.3.1-1]. */
  dup?: boolean;
  /** Called once the PUBLISH is written (it may first wait for a window slot). */
  onSent?: () => void;
}

export interface MqttClientOptions {
  /**
   * Receives every application message (its payload is the client's own copy). A QoS 1/2
   * message is acknowledged once the returned promise resolves; if it rejects the message
   * stays unacknowledged, so that the server sends it again on the next connection.
   */
  onMessage(message: PublishPacket): Promise<void> | void;
  /** Own QoS 1/2 PUBLISH unacknowledged at once, further capped by the server's Receive Maximum. */
  maxInflight?: number;
  /** How long to wait for CONNACK, SUBACK and the like (default 10 s). */
  replyTimeoutMs?: number;
}

/** The server answered CONNECT with a failure code. */
export class ConnectRefused extends Error {
  constructor(readonly reasonCode: number) {
    super(`connection refused with code 0x${reasonCode.toString(16)}`);
    this.name = "ConnectRefused";
  }
}

/** An own QoS 1/2 PUBLISH waiting for its acknowledgement. */
interface Pending {
  message: OutgoingMessage;
  resolve(reasonCode: number): void;
  reject(err: Error): void;
}

export class MqttClient {
  readonly level: ProtocolLevel;
  readonly #socket: Socket;
  readonly #options: MqttClientOptions;
  readonly #inflight = new Map<number, Pending>();
  readonly #waiting: Pending[] = [];
  readonly #replies: PendingReplies;
  readonly #acks = new InboundAcks((ack) => this.#send(ack));
  #nextId = 1;
  #window = 65535;
  #maxPacketSize = Infinity;
  #maxQoS: QoS = 2;
  #retainAvailable = true;
  #closed = false;
  #lastReceived = Date.now();
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;
  /** Why the connection ended, once it has. */
  closeReason = "";

  private constructor(socket: Socket, level: ProtocolLevel, options: MqttClientOptions) {
    this.#socket = socket;
    this.level = level;
    this.#options = options;
    this.#replies = new PendingReplies(
      options.replyTimeoutMs ?? 10_000,
      () => this.#shutdown("no reply in time"),
    );
    this.closed = new Promise((r) => this.#resolveClosed = r);
    this.#read();
  }

  /**
   * Sends CONNECT on `socket` and resolves once CONNACK accepted it; rejects with
   * ConnectRefused (or a timeout) and closes the socket otherwise.
   */
  static async connect(
    socket: Socket,
    packet: Omit<ConnectPacket, "type">,
    options: MqttClientOptions,
  ): Promise<{ client: MqttClient; connack: ConnackPacket }> {
    const client = new MqttClient(socket, packet.protocolLevel, options);
    const connack = client.#replies.wait(0) as Promise<ConnackPacket>;
    client.#send({ ...packet, type: PacketType.CONNECT });
    let reply: ConnackPacket;
    try {
      reply = await connack;
    } catch (err) {
      client.close();
      throw err;
    }
    if (reply.reasonCode !== 0) {
      client.close();
      throw new ConnectRefused(reply.reasonCode);
    }
    client.#accepted(reply, packet.keepAlive, options.maxInflight ?? 65535);
    return { client, connack: reply };
  }

  /** Applies what the server announced in CONNACK. */
  #accepted(connack: ConnackPacket, keepAlive: number, maxInflight: number): void {
    const p = connack.properties ?? {};
    // [MQTT-3.3.4-7] never more unacknowledged QoS 1/2 PUBLISH than the server's Receive Maximum.
    // Capped below 65535 so that a full window always leaves packet ids for SUBSCRIBE and UNSUBSCRIBE.
    this.#window = Math.min(maxInflight, p.receiveMaximum ?? 65535, 65_000);
    if (p.maximumPacketSize !== undefined) this.#maxPacketSize = p.maximumPacketSize;
    if (p.maximumQoS !== undefined) this.#maxQoS = p.maximumQoS as QoS;
    if (p.retainAvailable === 0) this.#retainAvailable = false;
    const seconds = p.serverKeepAlive ?? keepAlive;
    if (seconds > 0) this.#startKeepAlive(seconds * 1000);
  }

  /** PINGREQ every keep-alive period; silence for 1.5 periods means the link is dead. */
  #startKeepAlive(periodMs: number): void {
    this.#pingTimer = setInterval(() => {
      if (Date.now() - this.#lastReceived > periodMs * 1.5) {
        this.#shutdown("keep-alive timeout");
        return;
      }
      this.#send({ type: PacketType.PINGREQ });
    }, periodMs);
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Own QoS 1/2 messages sent or waiting to be sent, not yet acknowledged. */
  get pending(): number {
    return this.#inflight.size + this.#waiting.length;
  }

  /**
   * Publishes; resolves with the acknowledgement's reason code (0 for QoS 0, and
   * 0x95 without sending when the packet exceeds the server's Maximum Packet Size).
   * Rejects when the connection ends before the acknowledgement.
   */
  publish(message: OutgoingMessage): Promise<number> {
    if (this.#closed) return Promise.reject(new Error(`connection closed: ${this.closeReason}`));
    const qos = (message.qos < this.#maxQoS ? message.qos : this.#maxQoS) as QoS;
    const fitted = { ...message, qos, retain: message.retain && this.#retainAvailable };
    if (this.#tooLarge(fitted)) return Promise.resolve(Reason.PacketTooLarge);
    if (qos === 0) {
      this.#send(this.#publishPacket(fitted, 0));
      fitted.onSent?.();
      return Promise.resolve(0);
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push({ message: fitted, resolve, reject });
      this.#pump();
    });
  }

  /** [MQTT-3.2.2-15] a packet larger than the server's Maximum Packet Size is not sent. */
  #tooLarge(message: OutgoingMessage): boolean {
    if (this.#maxPacketSize === Infinity) return false;
    return encodePacket(this.#publishPacket(message, 1), this.level).length > this.#maxPacketSize;
  }

  #publishPacket(message: OutgoingMessage, packetId: number): PublishPacket {
    return {
      type: PacketType.PUBLISH,
      topic: message.topic,
      payload: message.payload,
      qos: message.qos,
      retain: message.retain,
      // [MQTT-3.3.1-2] never set at QoS 0; at QoS 1/2 the caller knows whether it sent the message before.
      dup: message.qos > 0 && message.dup === true,
      packetId: message.qos > 0 ? packetId : undefined,
      properties: this.level === 5 ? message.properties : undefined,
    };
  }

  /** Sends waiting messages while the window has room. */
  #pump(): void {
    while (this.#waiting.length > 0 && this.#inflight.size < this.#window && !this.#closed) {
      const pending = this.#waiting.shift()!;
      const id = this.#allocateId();
      this.#inflight.set(id, pending);
      this.#send(this.#publishPacket(pending.message, id));
      pending.message.onSent?.();
    }
  }

  #allocateId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = id === 65535 ? 1 : id + 1;
      if (!this.#inflight.has(id) && !this.#replies.has(id)) return id;
    }
  }

  /** Subscribes; resolves with one granted QoS or failure code per request. */
  async subscribe(subscriptions: SubscriptionRequest[]): Promise<number[]> {
    const packetId = this.#allocateId();
    const reply = this.#replies.wait(packetId);
    this.#send({ type: PacketType.SUBSCRIBE, packetId, subscriptions });
    return ((await reply) as { reasonCodes: number[] }).reasonCodes;
  }

  /** Unsubscribes; resolves once UNSUBACK arrived. */
  async unsubscribe(filters: string[]): Promise<void> {
    const packetId = this.#allocateId();
    const reply = this.#replies.wait(packetId);
    this.#send({ type: PacketType.UNSUBSCRIBE, packetId, filters });
    await reply;
  }

  /** Sends DISCONNECT (normal: no will) and closes. */
  disconnect(): void {
    if (this.#closed) return;
    this.#send({ type: PacketType.DISCONNECT, reasonCode: 0 });
    this.#shutdown("disconnected by the client");
  }

  /** Closes without DISCONNECT. */
  close(): void {
    this.#shutdown("closed by the client");
  }

  #send(packet: Packet): void {
    if (!this.#closed) this.#socket.write(encodePacket(packet, this.level));
  }

  async #read(): Promise<void> {
    const source = this.#socket.frames;
    let reason = "connection closed by the server";
    try {
      for (;;) {
        const frames = await source.next();
        if (frames === null || this.#closed) break;
        this.#lastReceived = Date.now();
        for (const frame of frames) this.#dispatch(decodePacket(frame, this.level));
      }
    } catch (err) {
      reason = `read failed: ${(err as Error).message}`;
    } finally {
      this.#shutdown(reason);
    }
  }

  #dispatch(packet: Packet): void {
    switch (packet.type) {
      case PacketType.CONNACK:
        return this.#replies.settle(0, packet);
      case PacketType.PUBLISH:
        return this.#received(packet);
      case PacketType.PUBACK:
      case PacketType.PUBCOMP:
        return this.#settle(packet.packetId, packet.reasonCode);
      case PacketType.PUBREC:
        // A failure code ends a QoS 2 flow at PUBREC; otherwise it goes on with PUBREL.
        if (packet.reasonCode >= 0x80) return this.#settle(packet.packetId, packet.reasonCode);
        return this.#send({ type: PacketType.PUBREL, packetId: packet.packetId, reasonCode: 0 });
      case PacketType.PUBREL:
        return this.#acks.released(packet.packetId);
      case PacketType.SUBACK:
      case PacketType.UNSUBACK:
        return this.#replies.settle(packet.packetId, packet);
      case PacketType.DISCONNECT:
        return this.#shutdown(`disconnected by the server (0x${packet.reasonCode.toString(16)})`);
      case PacketType.PINGRESP:
        return;
      default:
        return this.#shutdown(`unexpected packet type ${packet.type}`);
    }
  }

  #settle(id: number, reasonCode: number): void {
    const pending = this.#inflight.get(id);
    if (pending === undefined) return;
    this.#inflight.delete(id);
    pending.resolve(reasonCode);
    this.#pump();
  }

  /** Hands a PUBLISH to the application and queues its acknowledgement behind earlier ones. */
  #received(packet: PublishPacket): void {
    // Frames are views into the transport's read buffer, reused after this batch: keep a copy.
    const message = { ...packet, payload: packet.payload.slice() };
    const id = packet.packetId ?? 0;
    if (packet.qos === 2 && this.#acks.taken(id)) {
      // A resend of a message already taken: acknowledge again, do not deliver twice.
      return this.#acks.repeatPubrec(id);
    }
    let handled: Promise<void>;
    try {
      handled = Promise.resolve(this.#options.onMessage(message));
    } catch (err) {
      handled = Promise.reject(err);
    }
    if (packet.qos === 0) handled.catch(() => {});
    else this.#acks.after(handled, packet.qos, id);
  }

  #shutdown(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closeReason = reason;
    if (this.#pingTimer !== undefined) clearInterval(this.#pingTimer);
    const err = new Error(`connection closed: ${reason}`);
    for (const pending of [...this.#inflight.values(), ...this.#waiting.splice(0)]) pending.reject(err);
    this.#inflight.clear();
    this.#replies.failAll(err);
    this.#socket.close();
    this.#resolveClosed();
  }
}
