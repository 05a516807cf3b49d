/**
 * One client connection: reads frame batches, decodes and dispatches them to
 * the handlers, enforces CONNECT-first and keep-alive, and closes with the
 * right reason code. Protocol failures end this connection only and are
 * logged once, here, at the boundary.
 *
 * @module
 */
import { decodePacket, encodePacket } from "../protocol/codec.ts";
import { ProtocolError, PublishRefused } from "../protocol/errors.ts";
import {
  type AckPacket,
  ConnackReturnCode,
  type ConnectPacket,
  type Frame,
  type Packet,
  PacketType,
  type Properties,
  type ProtocolLevel,
  Reason,
} from "../protocol/packet.ts";
import type { Socket } from "../transport/socket.ts";
import { varintSize } from "../protocol/writer.ts";
import { PROTOCOL_MAX_PACKET_SIZE } from "../protocol/frame_stream.ts";
import { fitPacket } from "./packet_fit.ts";
import type { TimerHandle } from "./clock.ts";
import { type CommitBatch, CommitChain, type CommitObserver } from "./commit_batch.ts";
import type { BrokerContext } from "./context.ts";
import type { BrokerOptions } from "./options.ts";
import { handleConnect, type PendingConnect, rejectUnsupportedVersion } from "./handlers/connect.ts";
import { handleAuth } from "./handlers/auth.ts";
import type { AuthConversation } from "./enhanced_auth.ts";
import { handleDisconnect, handlePing } from "./handlers/control.ts";
import { handleOutboundAck } from "./handlers/outbound_ack.ts";
import { handlePublish, handlePubrel, refusePublish } from "./handlers/publish.ts";
import { handleSubscribe, handleUnsubscribe } from "./handlers/subscribe.ts";
import type { Session, SessionLink } from "./session.ts";
import { InboundAliases, type OutboundAliases } from "./topic_alias.ts";

type State = "awaiting_connect" | "connecting" | "connected" | "closed";

/** Scratch for sendAck: filled and copied into the socket's buffer in one call. */
const ACK_SCRATCH = Uint8Array.of(0, 2, 0, 0);

/** Options of a {@link Connection}. */
export interface ConnectionOptions {
  /** BrokerOptions.durability: "relaxed" acknowledges before the store commit resolves. */
  durability?: BrokerOptions["durability"];
}

export class Connection implements SessionLink, CommitObserver {
  readonly socket: Socket;
  readonly broker: BrokerContext;
  level: ProtocolLevel = 4;
  state: State = "awaiting_connect";
  session: Session | null = null;
  clientId = "";
  username: string | undefined;
  /** Seconds; 0 disables the keep-alive check. */
  keepAlive = 0;
  maxPacketSize = 268_435_460;
  sendWindow = 65535;
  aliases: OutboundAliases | null = null;
  inboundAliases: InboundAliases | null = null;
  /** QoS 1/2 PUBLISH received and not yet acknowledged (v5 Receive Maximum accounting). */
  inboundUnacked = 0;
  /** v5 Request Problem Information: false means no Reason String / User Properties on errors. */
  problemInformation = true;
  /** Set once a successful CONNACK went out (it waits for the session's commit). */
  connackSent = false;
  /** Set when the client sent DISCONNECT: the will is not published [MQTT-3.1.2-10]. */
  normalDisconnect = false;
  /** Set by DISCONNECT 0x04: publish the will although the disconnect is normal. */
  willOnDisconnect = false;
  /**
   * A 3.x bridge that set the bridge bit (0x80) in its protocol level: its subscriptions act
   * as No Local and Retain As Published, which 3.x cannot ask for, so that it gets nothing back
   * of what it forwarded (Mosquitto's meaning of the bit).
   */
  bridge = false;
  /** Inbound publish rate accounting (limits.messageRate). */
  rateWindowStart = 0;
  rateCount = 0;
  readonly chain: CommitChain;
  /** A CONNECT waiting for its enhanced authentication exchange (MQTT 5 AUTH). */
  pendingConnect: (PendingConnect & { conversation: AuthConversation & { done: false } }) | null = null;
  /** The Authentication Method this connection authenticated with, if any. */
  authMethod: string | undefined;
  /** A re-authentication exchange in progress. */
  reauth: (AuthConversation & { done: false }) | null = null;
  #lastActivity: number;
  /** KeepAliveClient: 1.5 × keep-alive in ms once CONNECT set one, else 0 (not watched). */
  silenceLimitMs = 0;
  #connectTimer: TimerHandle | undefined;
  #closeReason = "connection closed";

  constructor(broker: BrokerContext, socket: Socket, options: ConnectionOptions = {}) {
    this.broker = broker;
    this.socket = socket;
    this.#lastActivity = broker.clock.now();
    // The connection observes its own chain: no closure per connection.
    this.chain = new CommitChain(broker.store, this, { relaxed: options.durability === "relaxed" });
    this.#connectTimer = broker.clock.setTimer(
      () => this.#connectTimedOut(),
      broker.limits.connectTimeoutMs,
    );
  }

  /** Reads until the socket ends. Never rejects. */
  async run(): Promise<void> {
    const source = this.socket.frames;
    let frames: Frame[] | null = null;
    try {
      for (;;) {
        // Not holding the handled batch across the wait: an idle connection would keep it
        // alive for seconds, long enough to be promoted to the old generation.
        frames = null;
        frames = await source.next();
        if (frames === null || this.state === "closed") break;
        this.#lastActivity = this.broker.clock.now();
        const pending = this.#handleBatch(frames);
        if (pending !== undefined) await pending;
        if (this.isClosed) break;
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#socketEnded();
    }
  }

  /**
   * Dispatches a batch; synchronous unless a handler has to wait (authentication, a
   * hook), so the common batch costs no promise.
   */
  #handleBatch(frames: Frame[]): Promise<void> | undefined {
    const batch = this.chain.begin();
    let i = 0;
    try {
      for (; i < frames.length && this.state !== "closed"; i++) {
        const pending = this.#dispatch(this.#counted(frames[i]), batch);
        if (pending !== undefined) return this.#finishBatch(frames, i, pending, batch);
      }
    } catch (err) {
      this.chain.submit(batch);
      throw err;
    }
    this.chain.submit(batch);
  }

  /** The rest of a batch after frame `i` started waiting on `pending`. */
  async #finishBatch(frames: Frame[], i: number, pending: Promise<void>, batch: CommitBatch): Promise<void> {
    try {
      await pending;
      for (i++; i < frames.length && this.state !== "closed"; i++) {
        const next = this.#dispatch(this.#counted(frames[i]), batch);
        if (next !== undefined) await next;
      }
    } finally {
      this.chain.submit(batch);
    }
  }

  #counted(frame: Frame): Frame {
    const stats = this.broker.stats;
    stats.bytesReceived += frame.body.length + 2;
    stats.packetsReceived[frame.header >> 4]++;
    stats.bytesReceivedByType[frame.header >> 4] += frame.body.length + 2;
    return frame;
  }

  #dispatch(frame: Frame, batch: CommitBatch): Promise<void> | void {
    // Transports enforce the sizes while framing; this covers sockets handed in by embedders.
    const size = frame.body.length + 1 + varintSize(frame.body.length);
    const first = this.state === "awaiting_connect";
    const max = first
      ? Math.min(this.broker.limits.maxConnectSize, this.broker.mqtt.maxPacketSize)
      : this.broker.mqtt.maxPacketSize;
    if (size > max) {
      throw new ProtocolError(Reason.PacketTooLarge, `packet of ${size} bytes exceeds the maximum of ${max}`);
    }
    if (first) {
      // [MQTT-3.1.0-1] the first packet from the client must be CONNECT.
      if (frame.header >> 4 !== PacketType.CONNECT) {
        throw new ProtocolError(Reason.ProtocolError, "first packet was not CONNECT");
      }
      let connect: ConnectPacket;
      try {
        connect = decodePacket(frame, 4, this.broker.limits) as ConnectPacket;
      } catch (err) {
        if (err instanceof ProtocolError && err.reasonCode === Reason.UnsupportedProtocolVersion) {
          rejectUnsupportedVersion(this, frame);
        }
        if (err instanceof ProtocolError && err.reasonCode === Reason.QuotaExceeded) {
          // Over the property limits, which only v5 packets can be: told with CONNACK 0x97 [MQTT-3.2.2-7].
          this.level = 5;
          this.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: Reason.QuotaExceeded });
        }
        throw err;
      }
      this.state = "connecting";
      this.#clearConnectTimer();
      return handleConnect(this, connect, batch);
    }
    let packet: Packet;
    try {
      packet = decodePacket(frame, this.level, this.broker.limits);
    } catch (err) {
      // Over a property limit: a PUBLISH is refused on its own, the connection goes on.
      if (err instanceof PublishRefused && this.state === "connected") {
        return refusePublish(this, err.packet, err, batch);
      }
      throw err;
    }
    return this.#dispatchConnected(packet, batch);
  }

  #dispatchConnected(packet: Packet, batch: CommitBatch): Promise<void> | void {
    if (this.state === "connecting") {
      // Until the CONNACK only the authentication exchange may continue.
      if (packet.type === PacketType.AUTH) return handleAuth(this, packet, batch);
      throw new ProtocolError(Reason.ProtocolError, "packet before the authentication completed");
    }
    switch (packet.type) {
      case PacketType.PUBLISH:
        return handlePublish(this, packet, batch);
      case PacketType.PUBACK:
      case PacketType.PUBREC:
      case PacketType.PUBCOMP:
        return handleOutboundAck(this, packet, batch);
      case PacketType.PUBREL:
        return handlePubrel(this, packet, batch);
      case PacketType.SUBSCRIBE:
        return handleSubscribe(this, packet, batch);
      case PacketType.UNSUBSCRIBE:
        return handleUnsubscribe(this, packet, batch);
      case PacketType.PINGREQ:
        return handlePing(this);
      case PacketType.DISCONNECT:
        return handleDisconnect(this, packet, batch);
      case PacketType.CONNECT:
        // [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
        throw new ProtocolError(Reason.ProtocolError, "second CONNECT on one connection");
      case PacketType.AUTH:
        return handleAuth(this, packet, batch);
      default:
        // CONNACK, SUBACK, UNSUBACK, PINGRESP only flow from server to client.
        throw new ProtocolError(Reason.ProtocolError, `packet type ${packet.type} is not sent by clients`);
    }
  }

  get isClosed(): boolean {
    return this.state === "closed";
  }

  /**
   * Sends PUBACK, PUBREC, PUBREL or PUBCOMP. A successful one without properties is four
   * bytes written straight from a scratch buffer (the socket copies them), the same bytes
   * encodeAck produces [MQTT-3.4.2-1]: one fewer allocation per QoS 1/2 message.
   */
  sendAck(packet: AckPacket): void {
    // (Four bytes always fit: a client with a smaller Maximum Packet Size never got its 5-byte CONNACK.)
    if (packet.properties !== undefined || (packet.reasonCode !== 0 && this.level === 5)) {
      return this.send(packet);
    }
    if (this.state === "closed") return;
    ACK_SCRATCH[0] = (packet.type << 4) | (packet.type === PacketType.PUBREL ? 0x02 : 0x00);
    ACK_SCRATCH[2] = packet.packetId >> 8;
    ACK_SCRATCH[3] = packet.packetId & 0xff;
    this.#write(packet.type, ACK_SCRATCH);
  }

  /**
   * Encodes and queues a packet at this connection's protocol level, fitted to the client's
   * Maximum Packet Size (packet_fit.ts).
   */
  send(packet: Packet): void {
    if (this.state === "closed") return;
    const fitted = this.maxPacketSize < PROTOCOL_MAX_PACKET_SIZE
      ? fitPacket(packet, this.level, this.maxPacketSize)
      : { packet, bytes: encodePacket(packet, this.level) };
    if (fitted === null) return this.#unsendable(packet);
    if (fitted.packet !== packet && packet.type === PacketType.CONNACK) {
      const granted = (fitted.packet as { properties?: Properties }).properties?.topicAliasMaximum;
      // The client was told of no aliases: any it sends is above the maximum [MQTT-3.3.2-9].
      if (granted === undefined && this.inboundAliases !== null) this.inboundAliases = new InboundAliases(0);
    }
    this.#write(packet.type, fitted.bytes);
  }

  /**
   * [MQTT-3.1.2-24] a packet larger than the client's Maximum Packet Size is never sent, even
   * cut down: the client could not take it, and the exchange it belongs to cannot go on, so
   * the connection is closed. After the CONNACK a v5 client is told why (DISCONNECT 0x95, when
   * that fits); a CONNACK that does not fit is not replaced by a DISCONNECT [MQTT-3.14.0-1].
   * (A PUBLISH is dropped instead, and the connection kept: delivery.ts, [MQTT-3.1.2-25].)
   */
  #unsendable(packet: Packet): void {
    if (packet.type === PacketType.DISCONNECT) return; // already closing: close without it
    const why =
      `packet type ${packet.type} does not fit the client's Maximum Packet Size of ${this.maxPacketSize}`;
    this.broker.log.info("Closing {clientId} ({remote}): {why}", {
      clientId: this.clientId,
      remote: this.socket.remoteAddress,
      why,
    });
    if (packet.type === PacketType.CONNACK) {
      this.#closeReason = why;
      return this.#shutdown();
    }
    this.close(Reason.PacketTooLarge, why);
  }

  /** Counts an encoded packet in the statistics and queues it. */
  #write(type: number, bytes: Uint8Array): void {
    const stats = this.broker.stats;
    stats.bytesSent += bytes.length;
    stats.packetsSent[type]++;
    stats.bytesSentByType[type] += bytes.length;
    this.socket.write(bytes);
  }

  /** Marks the connection established: starts the keep-alive check. */
  established(): void {
    this.#clearConnectTimer();
    this.state = "connected";
    this.#armKeepAlive();
  }

  /**
   * Closes from the broker side. For v5 after CONNECT, a DISCONNECT with `reason`
   * is sent first [MQTT-4.13.1-1]; the will is published (abnormal close).
   */
  close(reason: number, why: string): void {
    if (this.state === "closed") return;
    // [MQTT-3.14.0-1] no DISCONNECT before a successful CONNACK (sent, not just decided).
    if (this.level === 5 && this.connackSent && reason !== 0) {
      const properties = this.problemInformation ? { reasonString: why } : undefined;
      this.send({ type: PacketType.DISCONNECT, reasonCode: reason, properties });
    }
    this.#closeReason = why;
    this.#shutdown();
  }

  /** SessionLink: another connection took the session over [MQTT-3.1.4-3]. */
  takeOver(): void {
    this.close(Reason.SessionTakenOver, "session taken over");
  }

  #fail(err: unknown): void {
    if (err instanceof ProtocolError) {
      this.broker.stats.protocolErrors++;
      this.broker.log.info("Closing {clientId} ({remote}): {error}", {
        clientId: this.clientId,
        remote: this.socket.remoteAddress,
        error: err.message,
      });
      this.close(err.reasonCode, err.message);
      return;
    }
    this.broker.log.error("Unexpected error on {clientId}: {error}", {
      clientId: this.clientId,
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    });
    this.close(Reason.UnspecifiedError, "internal error");
  }

  /** CommitObserver: how long this connection's commit took. */
  commitTook(ms: number): void {
    this.broker.stats.observeCommit(ms);
  }

  /** CommitObserver: the store could not commit this connection's batch. */
  commitFailed(err: unknown): void {
    this.broker.log.error("Store commit failed for {clientId}: {error}", {
      clientId: this.clientId,
      error: String(err),
    });
    if (this.state === "connected" && !this.connackSent) {
      // The CONNECT was accepted but its session could not be stored: its CONNACK says so
      // (0x80 / 3.1.1 Server unavailable) and the connection closes [MQTT-3.2.2-7].
      const reasonCode = this.level === 5 ? Reason.UnspecifiedError : ConnackReturnCode.ServerUnavailable;
      this.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode });
    }
    this.close(Reason.UnspecifiedError, "store failure");
  }

  #shutdown(): void {
    const wasConnected = this.state === "connected";
    this.state = "closed";
    this.#clearConnectTimer();
    if (this.silenceLimitMs > 0) this.broker.keepAlive.unwatch(this);
    const session = this.session;
    if (session !== null && session.link === this) {
      session.link = null;
      const publishWill = !this.normalDisconnect || this.willOnDisconnect;
      this.broker.sessionDetached(session, publishWill);
    }
    this.broker.connectionClosed(wasConnected);
    if (wasConnected) {
      const client = {
        clientId: this.clientId,
        username: this.username,
        remoteAddress: this.socket.remoteAddress,
        protocolLevel: this.level,
      };
      this.broker.hooks.notify("onDisconnect", (h) => h.onDisconnect!(client, this.#closeReason));
      this.broker.log.debug("Client {clientId} disconnected: {reason}", {
        clientId: this.clientId,
        reason: this.#closeReason,
      });
    }
    this.socket.close();
  }

  #socketEnded(): void {
    if (this.state !== "closed") this.#shutdown();
  }

  #connectTimedOut(): void {
    this.#connectTimer = undefined;
    if (this.state === "awaiting_connect") {
      this.#closeReason = "no CONNECT in time";
      this.#shutdown();
    }
  }

  /** (Re)starts the connect timeout, e.g. while an authentication exchange waits for the client. */
  armConnectTimer(): void {
    this.#clearConnectTimer();
    this.#connectTimer = this.broker.clock.setTimer(() => {
      this.#connectTimer = undefined;
      if (this.state !== "connected") {
        this.close(Reason.NotAuthorized, "authentication did not complete in time");
      }
    }, this.broker.limits.connectTimeoutMs);
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer !== undefined) this.broker.clock.clearTimer(this.#connectTimer);
    this.#connectTimer = undefined;
  }

  /** [MQTT-3.1.2-24] no packet within 1.5 × keep-alive: the broker's sweep closes the connection. */
  #armKeepAlive(): void {
    if (this.keepAlive === 0) return;
    this.silenceLimitMs = this.keepAlive * 1500;
    this.broker.keepAlive.watch(this);
  }

  /** KeepAliveClient: the time of the last packet received. */
  get lastActivity(): number {
    return this.#lastActivity;
  }

  /** KeepAliveClient: called by the sweep once the client has been silent too long. */
  keepAliveExpired(): void {
    this.close(Reason.KeepAliveTimeout, "keep-alive timeout");
  }
}
