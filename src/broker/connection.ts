/**
 * One client connection: reads frame batches, decodes and dispatches them to
 * the handlers, enforces CONNECT-first and keep-alive, and closes with the
 * right reason code. Protocol failures end this connection only and are
 * logged once, here, at the boundary.
 *
 * @module
 */
import { drained, takeCongested, waitForDrain } from "./pacing.ts";
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
  Reason,
} from "../protocol/packet.ts";
import type { Socket } from "../transport/socket.ts";
import { varintSize } from "../protocol/writer.ts";
import { PROTOCOL_MAX_PACKET_SIZE } from "../protocol/frame_stream.ts";
import { fitPacket } from "./packet_fit.ts";
import type { TimerHandle } from "./clock.ts";
import { type CommitBatch, CommitChain, type CommitObserver } from "./commit_batch.ts";
import type { BrokerContext } from "./context.ts";
import type { ClientContext, ConnectionPhase } from "./client_context.ts";
import { hookClient } from "./client_context.ts";
import { ClientState } from "./client_state.ts";
import type { BrokerOptions } from "./options.ts";
import { dispatch } from "./handlers/dispatch.ts";
import { handleConnect } from "./handlers/connect.ts";
import { refusePublish } from "./handlers/publish.ts";
import type { KeepAliveClient } from "./keep_alive.ts";
import type { Session, SessionLink } from "./session.ts";
import { InboundAliases, type OutboundAliases } from "./topic_alias.ts";

/** Scratch for sendAck: filled and copied into the socket's buffer in one call. */
const ACK_SCRATCH = Uint8Array.of(0, 2, 0, 0);

/** Options of a {@link Connection}. */
export interface ConnectionOptions {
  /** BrokerOptions.durability: "relaxed" acknowledges before the store commit resolves. */
  durability?: BrokerOptions["durability"];
  /** Told once the connection has stopped reading (shared by all connections: no closure each). */
  onEnded?: (connection: Connection) => void;
}

export class Connection implements ClientContext, SessionLink, KeepAliveClient, CommitObserver {
  readonly socket: Socket;
  readonly engine: BrokerContext;
  readonly state: ClientState = new ClientState();
  /** This connection's commits, in order (the broker drains it on shutdown and hand-over). */
  readonly chain: CommitChain;
  #phase: ConnectionPhase = "awaiting_connect";
  #lastActivity: number;
  /** 1.5 × keep-alive in ms once CONNECT set one, else 0 (not watched). */
  #silenceLimitMs = 0;
  #connectTimer: TimerHandle | undefined;
  #closeReason = "connection closed";
  readonly #onEnded: ((connection: Connection) => void) | undefined;
  /** The read's two outcomes, bound once per connection (every read reuses them). */
  readonly #onFrames: (frames: Frame[] | null) => void;
  readonly #onFailed: (err: unknown) => void;

  constructor(engine: BrokerContext, socket: Socket, options: ConnectionOptions = {}) {
    this.engine = engine;
    this.socket = socket;
    this.#onEnded = options.onEnded;
    this.#onFrames = this.#framesRead.bind(this);
    this.#onFailed = this.#framesFailed.bind(this);
    this.#lastActivity = engine.clock.now();
    // The connection observes its own chain: no closure per connection.
    this.chain = new CommitChain(engine.store, this, { relaxed: options.durability === "relaxed" });
    this.#connectTimer = engine.clock.setTimer(
      () => this.#connectTimedOut(),
      engine.limits.connectTimeoutMs,
    );
  }

  get phase(): ConnectionPhase {
    return this.#phase;
  }

  get isClosed(): boolean {
    return this.#phase === "closed";
  }

  // SessionLink: what delivery reads of the client, from its protocol state.
  get clientId(): string {
    return this.state.clientId;
  }

  get level(): ClientState["level"] {
    return this.state.level;
  }

  get maxPacketSize(): number {
    return this.state.maxPacketSize;
  }

  get sendWindow(): number {
    return this.state.sendWindow;
  }

  get aliases(): OutboundAliases | null {
    return this.state.aliases;
  }

  /**
   * Reads until the socket ends (then tells `onEnded`). Never throws. A loop of then()
   * callbacks rather than an async function: an idle connection waits here for seconds, and
   * an async frame with its promises would live as long (docs/benchmarks.md, idle connections).
   */
  run(): void {
    this.#read();
  }

  #read(): void {
    // Nothing of the handled batch is held across the wait: an idle connection would keep it
    // alive for seconds, long enough to be promoted to the old generation.
    // Through next()'s promise, not a callback the source calls from inside its read's
    // reaction: measured here, that saved ~430 B of heap per idle connection but cost 16 KiB
    // fan-out a fifth of its throughput, with QoS 0 drops (docs/benchmarks.md, 2026-12-05).
    try {
      this.socket.frames.next().then(this.#onFrames, this.#onFailed);
    } catch (err) {
      this.#stop(err);
    }
  }

  /** The next batch, or null when the peer has ended. Never throws. */
  #framesRead(frames: Frame[] | null): void {
    if (frames === null || this.#phase === "closed") return this.#stop();
    this.#lastActivity = this.engine.clock.now();
    takeCongested();
    let pending: Promise<void> | undefined;
    try {
      pending = this.#handleBatch(frames);
    } catch (err) {
      return this.#stop(err);
    }
    if (pending === undefined) return this.#handled();
    pending.then(() => this.#next(), (err) => this.#stop(err));
  }

  /**
   * After a batch handled at once (across an await, other batches set the mark): when it
   * filled another client's writes past its limit, the next read waits for them to drain
   * (publisher pacing, pacing.ts).
   */
  #handled(): void {
    if (this.isClosed) return this.#stop();
    const congested = takeCongested();
    if (congested !== undefined && congested !== this.state.session && congested.link !== null) {
      waitForDrain(congested, this.engine.clock).then(() => this.#next(), (err) => this.#stop(err));
      return;
    }
    this.#read();
  }

  /** Reading failed (malformed input, the transport). Never throws. */
  #framesFailed(err: unknown): void {
    this.#stop(err);
  }

  #next(): void {
    if (this.isClosed) return this.#stop();
    this.#read();
  }

  /** The read loop is over: fails the connection on `err`, then shuts it down. */
  #stop(err?: unknown): void {
    if (err !== undefined) this.#fail(err);
    this.#socketEnded();
    this.#onEnded?.(this);
  }

  /**
   * Dispatches a batch; synchronous unless a handler has to wait (authentication, a
   * hook), so the common batch costs no promise.
   */
  #handleBatch(frames: Frame[]): Promise<void> | undefined {
    const batch = this.chain.begin();
    let i = 0;
    try {
      for (; i < frames.length && this.#phase !== "closed"; i++) {
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
      for (i++; i < frames.length && this.#phase !== "closed"; i++) {
        const next = this.#dispatch(this.#counted(frames[i]), batch);
        if (next !== undefined) await next;
      }
    } finally {
      this.chain.submit(batch);
    }
  }

  #counted(frame: Frame): Frame {
    const stats = this.engine.stats;
    const length = frame.end - frame.start;
    stats.bytesReceived += length + 2;
    stats.packetsReceived[frame.header >> 4]++;
    stats.bytesReceivedByType[frame.header >> 4] += length + 2;
    return frame;
  }

  #dispatch(frame: Frame, batch: CommitBatch): Promise<void> | void {
    // Transports enforce the sizes while framing; this covers sockets handed in by embedders.
    const length = frame.end - frame.start;
    const size = length + 1 + varintSize(length);
    const first = this.#phase === "awaiting_connect";
    const engine = this.engine;
    const max = first
      ? Math.min(engine.limits.maxConnectSize, engine.mqtt.maxPacketSize)
      : engine.mqtt.maxPacketSize;
    if (size > max) {
      throw new ProtocolError(Reason.PacketTooLarge, `packet of ${size} bytes exceeds the maximum of ${max}`);
    }
    if (first) return this.#dispatchFirst(frame, batch);
    let packet: Packet;
    try {
      packet = decodePacket(frame, this.state.level, engine.limits);
    } catch (err) {
      // Over a property limit: a PUBLISH is refused on its own, the connection goes on.
      if (err instanceof PublishRefused && this.#phase === "connected") {
        return refusePublish(this, err.packet, err, batch);
      }
      throw err;
    }
    return dispatch(this, packet, batch);
  }

  /** The first packet: CONNECT, decoded before its protocol level is known. */
  #dispatchFirst(frame: Frame, batch: CommitBatch): Promise<void> | void {
    // [MQTT-3.1.0-1] the first packet from the client must be CONNECT.
    if (frame.header >> 4 !== PacketType.CONNECT) {
      throw new ProtocolError(Reason.ProtocolError, "first packet was not CONNECT");
    }
    let connect: ConnectPacket;
    try {
      connect = decodePacket(frame, 4, this.engine.limits) as ConnectPacket;
    } catch (err) {
      if (err instanceof ProtocolError && err.reasonCode === Reason.UnsupportedProtocolVersion) {
        this.#rejectUnsupportedVersion();
      }
      if (err instanceof ProtocolError && err.reasonCode === Reason.QuotaExceeded) {
        // Over the property limits, which only v5 packets can be: told with CONNACK 0x97 [MQTT-3.2.2-7].
        this.state.level = 5;
        this.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: Reason.QuotaExceeded });
      }
      throw err;
    }
    this.#phase = "connecting";
    this.#clearConnectTimer();
    return handleConnect(this, connect, batch);
  }

  /** [MQTT-3.1.2-2] an unsupported protocol level gets CONNACK 0x01, then the connection closes. */
  #rejectUnsupportedVersion(): void {
    this.socket.write(
      encodePacket({
        type: PacketType.CONNACK,
        sessionPresent: false,
        reasonCode: ConnackReturnCode.UnacceptableProtocolVersion,
      }, 4),
    );
  }

  /**
   * Sends PUBACK, PUBREC, PUBREL or PUBCOMP. A successful one without properties is four
   * bytes written straight from a scratch buffer (the socket copies them), the same bytes
   * encodeAck produces [MQTT-3.4.2-1]: one fewer allocation per QoS 1/2 message.
   */
  sendAck(packet: AckPacket): void {
    // (Four bytes always fit: a client with a smaller Maximum Packet Size never got its 5-byte CONNACK.)
    if (packet.properties !== undefined || (packet.reasonCode !== 0 && this.state.level === 5)) {
      return this.send(packet);
    }
    if (this.#phase === "closed") return;
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
    if (this.#phase === "closed") return;
    const state = this.state;
    const fitted = state.maxPacketSize < PROTOCOL_MAX_PACKET_SIZE
      ? fitPacket(packet, state.level, state.maxPacketSize)
      : { packet, bytes: encodePacket(packet, state.level) };
    if (fitted === null) return this.#unsendable(packet);
    if (fitted.packet !== packet && packet.type === PacketType.CONNACK) {
      const granted = (fitted.packet as { properties?: Properties }).properties?.topicAliasMaximum;
      // The client was told of no aliases: any it sends is above the maximum [MQTT-3.3.2-9].
      if (granted === undefined && state.inboundAliases !== null) {
        state.inboundAliases = new InboundAliases(0);
      }
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
      `packet type ${packet.type} does not fit the client's Maximum Packet Size of ${this.state.maxPacketSize}`;
    this.engine.log.info("Closing {clientId} ({remote}): {why}", {
      clientId: this.state.clientId,
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
    const stats = this.engine.stats;
    stats.bytesSent += bytes.length;
    stats.packetsSent[type]++;
    stats.bytesSentByType[type] += bytes.length;
    this.socket.write(bytes);
  }

  /** ClientContext: this connection becomes the one the session delivers through. */
  attach(session: Session): void {
    session.link = this;
    this.state.session = session;
  }

  /** Marks the connection established: starts the keep-alive check. */
  established(): void {
    this.#clearConnectTimer();
    this.#phase = "connected";
    this.#armKeepAlive();
  }

  /**
   * Closes from the broker side. For v5 after CONNECT, a DISCONNECT with `reason`
   * is sent first [MQTT-4.13.1-1]; the will is published (abnormal close).
   */
  close(reason: number, why: string): void {
    if (this.#phase === "closed") return;
    const state = this.state;
    // [MQTT-3.14.0-1] no DISCONNECT before a successful CONNACK (sent, not just decided).
    if (state.level === 5 && state.connackSent && reason !== 0) {
      const properties = state.problemInformation ? { reasonString: why } : undefined;
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
      this.engine.stats.protocolErrors++;
      this.engine.log.info("Closing {clientId} ({remote}): {error}", {
        clientId: this.state.clientId,
        remote: this.socket.remoteAddress,
        error: err.message,
      });
      this.close(err.reasonCode, err.message);
      return;
    }
    this.engine.log.error("Unexpected error on {clientId}: {error}", {
      clientId: this.state.clientId,
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    });
    this.close(Reason.UnspecifiedError, "internal error");
  }

  /** CommitObserver: how long this connection's commit took. */
  commitTook(ms: number): void {
    this.engine.stats.observeCommit(ms);
  }

  /** CommitObserver: the store could not commit this connection's batch. */
  commitFailed(err: unknown): void {
    this.engine.log.error("Store commit failed for {clientId}: {error}", {
      clientId: this.state.clientId,
      error: String(err),
    });
    if (this.#phase === "connected" && !this.state.connackSent) {
      // The CONNECT was accepted but its session could not be stored: its CONNACK says so
      // (0x80 / 3.1.1 Server unavailable) and the connection closes [MQTT-3.2.2-7].
      const reasonCode = this.state.level === 5
        ? Reason.UnspecifiedError
        : ConnackReturnCode.ServerUnavailable;
      this.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode });
    }
    this.close(Reason.UnspecifiedError, "store failure");
  }

  #shutdown(): void {
    const wasConnected = this.#phase === "connected";
    this.#phase = "closed";
    this.#clearConnectTimer();
    if (this.#silenceLimitMs > 0) this.engine.keepAlive.unwatch(this);
    const session = this.state.session;
    if (session !== null && session.link === this) {
      session.link = null;
      // Publishers paced by this session's queue do not wait for a client that is gone.
      if (session.pacing !== null) drained(session, this.engine.limits.pacePublishersAt);
      this.engine.sessionDetached(session, this.state.publishesWill);
    }
    this.engine.connectionClosed(wasConnected);
    if (wasConnected) {
      const client = hookClient(this);
      this.engine.hooks.notify("onDisconnect", (h) => h.onDisconnect!(client, this.#closeReason));
      this.engine.log.debug("Client {clientId} disconnected: {reason}", {
        clientId: this.state.clientId,
        reason: this.#closeReason,
      });
    }
    this.socket.close();
  }

  #socketEnded(): void {
    if (this.#phase !== "closed") this.#shutdown();
  }

  #connectTimedOut(): void {
    this.#connectTimer = undefined;
    if (this.#phase === "awaiting_connect") {
      this.#closeReason = "no CONNECT in time";
      this.#shutdown();
    }
  }

  /** (Re)starts the connect timeout, e.g. while an authentication exchange waits for the client. */
  armConnectTimer(): void {
    this.#clearConnectTimer();
    this.#connectTimer = this.engine.clock.setTimer(() => {
      this.#connectTimer = undefined;
      if (this.#phase !== "connected") {
        this.close(Reason.NotAuthorized, "authentication did not complete in time");
      }
    }, this.engine.limits.connectTimeoutMs);
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer !== undefined) this.engine.clock.clearTimer(this.#connectTimer);
    this.#connectTimer = undefined;
  }

  /** [MQTT-3.1.2-24] no packet within 1.5 × keep-alive: the broker's sweep closes the connection. */
  #armKeepAlive(): void {
    if (this.state.keepAlive === 0) return;
    this.#silenceLimitMs = this.state.keepAlive * 1500;
    this.engine.keepAlive.watch(this);
  }

  /** KeepAliveClient: the time of the last packet received. */
  get lastActivity(): number {
    return this.#lastActivity;
  }

  /** KeepAliveClient: how long the client may stay silent (0 when it is not watched). */
  get silenceLimitMs(): number {
    return this.#silenceLimitMs;
  }

  /** KeepAliveClient: called by the sweep once the client has been silent too long. */
  keepAliveExpired(): void {
    this.close(Reason.KeepAliveTimeout, "keep-alive timeout");
  }
}
