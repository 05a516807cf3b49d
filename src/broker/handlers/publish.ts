/**
 * Inbound PUBLISH and PUBREL: topic aliases, the limits the broker advertised,
 * authorisation, routing, retained messages, and the QoS 1/2 acknowledgements
 * that are sent only once the resulting state is durable.
 *
 * @module
 */
import { protocolError, type PublishRefused } from "../../protocol/errors.ts";
import { type AckPacket, PacketType, type PublishPacket, Reason } from "../../protocol/packet.ts";
import type { StoredMessage } from "../../persistence/store.ts";
import { isSystemTopic } from "../../protocol/topic.ts";
import type { CommitBatch } from "../commit_batch.ts";
import { type ClientContext, hookClient } from "../client_context.ts";
import { stampExpiry } from "../delivery.ts";
import { hookMessage } from "../hooks.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function handlePublish(
  ctx: ClientContext,
  packet: PublishPacket,
  batch: CommitBatch,
): Promise<void> | void {
  const broker = ctx.engine;
  broker.stats.publishReceived++;
  broker.stats.messagesReceived++;
  const topic = checkPublish(ctx, packet);
  broker.stats.sampleTopic(topic);
  if (packet.qos === 2 && ctx.state.session!.inbound2.has(packet.packetId!)) {
    // [MQTT-4.3.3-10] a duplicate of a QoS 2 PUBLISH not yet released is acknowledged, not routed again.
    acknowledge(ctx, packet, Reason.Success, batch);
    return;
  }
  if (packet.qos > 0) countInbound(ctx);
  if (packet.properties?.payloadFormatIndicator === 1 && !isUtf8(packet.payload)) {
    // A payload that declares itself UTF-8 and is not: the spec lets the receiver refuse it with 0x99.
    return refuseMessage(ctx, packet, Reason.PayloadFormatInvalid, batch, "payload is not valid UTF-8");
  }
  // Topics beginning with "$" are the broker's own ($SYS): clients may not publish there.
  if (isSystemTopic(topic)) {
    return refuseMessage(ctx, packet, Reason.NotAuthorized, batch, "topics starting with $ are reserved");
  }
  const allowed = broker.authorize(ctx.state.identity, "write", topic);
  if (allowed === true) return accept(ctx, packet, topic, batch);
  if (allowed === false) {
    return refuseMessage(ctx, packet, Reason.NotAuthorized, batch, "publish not authorized");
  }
  return acceptWhenAllowed(ctx, packet, topic, batch, allowed);
}

/**
 * The decision came as a promise (a hook). Apart from handlePublish: a closure there made
 * every PUBLISH allocate the context it captures, decided at once or not.
 */
function acceptWhenAllowed(
  ctx: ClientContext,
  packet: PublishPacket,
  topic: string,
  batch: CommitBatch,
  allowed: Promise<boolean>,
): Promise<void> {
  return allowed.then((ok) =>
    ok
      ? accept(ctx, packet, topic, batch)
      : refuseMessage(ctx, packet, Reason.NotAuthorized, batch, "publish not authorized")
  );
}

/**
 * A PUBLISH whose properties are over the broker's limits (limits.max_user_properties,
 * max_property_bytes), refused during decoding: like a refused message it is not routed, and a
 * v5 publisher of QoS 1/2 gets PUBACK/PUBREC 0x97 Quota exceeded, so it neither resends it
 * forever nor loses its connection. (Only v5 packets have properties.)
 */
export function refusePublish(
  ctx: ClientContext,
  packet: PublishRefused["packet"],
  error: PublishRefused,
  batch: CommitBatch,
): void {
  const broker = ctx.engine;
  broker.stats.publishReceived++;
  broker.stats.messagesReceived++;
  broker.stats.dropped.quota_exceeded++;
  broker.log.debug("Refused a PUBLISH from {clientId} to {topic}: {error}", {
    clientId: ctx.state.clientId,
    topic: packet.topic,
    error: error.message,
  });
  if (packet.qos === 2 && ctx.state.session!.inbound2.has(packet.packetId!)) {
    // A duplicate of a QoS 2 PUBLISH already accepted: as in handlePublish [MQTT-4.3.3-10].
    return acknowledge(ctx, packet, Reason.Success, batch);
  }
  if (packet.qos > 0) countInbound(ctx);
  refuseMessage(ctx, packet, error.reasonCode, batch, error.message);
}

/** Resolves the topic and enforces what the broker advertised. Throws ProtocolError. */
function checkPublish(ctx: ClientContext, packet: PublishPacket): string {
  const broker = ctx.engine;
  let topic = packet.topic;
  if (ctx.state.inboundAliases !== null) {
    topic = ctx.state.inboundAliases.resolve(topic, packet.properties?.topicAlias);
  } else if (topic === "") {
    // [MQTT-4.7.3-1] topic names are at least one character long.
    throw protocolError(Reason.TopicNameInvalid, "empty topic name");
  }
  if (topic.length > broker.limits.maxTopicLength) {
    throw protocolError(Reason.TopicNameInvalid, "topic longer than the broker allows");
  }
  if (broker.limits.maxTopicLevels > 0 && countLevels(topic) > broker.limits.maxTopicLevels) {
    throw protocolError(Reason.TopicNameInvalid, "topic has more levels than the broker allows");
  }
  // [MQTT-3.2.2-11] a QoS above the advertised Maximum QoS is a protocol error (0x9B).
  if (packet.qos > broker.mqtt.maxQoS) throw protocolError(Reason.QoSNotSupported, "QoS not supported");
  // [MQTT-3.2.2-14] RETAIN when Retain Available is 0 is a protocol error (0x9A).
  if (packet.retain && !broker.mqtt.retainAvailable) {
    throw protocolError(Reason.RetainNotSupported, "retain not supported");
  }
  // [MQTT-3.3.4-6] Subscription Identifiers are the broker's to send, never the client's.
  if (packet.properties?.subscriptionIdentifiers !== undefined) {
    throw protocolError(Reason.ProtocolError, "PUBLISH from a client carries a Subscription Identifier");
  }
  checkRate(ctx);
  return topic;
}

function countLevels(topic: string): number {
  let n = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 0x2f) n++;
  return n;
}

/** [MQTT-3.3.4-7] more unacknowledged QoS 1/2 PUBLISH than Receive Maximum: 0x93. */
function countInbound(ctx: ClientContext): void {
  ctx.state.inboundUnacked++;
  if (ctx.state.inboundUnacked > ctx.engine.mqtt.receiveMaximum) {
    throw protocolError(Reason.ReceiveMaximumExceeded, "receive maximum exceeded");
  }
}

/** limits.messageRate: PUBLISH per second per client; over it the connection is closed (0x96). */
function checkRate(ctx: ClientContext): void {
  const limit = ctx.engine.limits.messageRate;
  // The broker's own connections (a bridge carrying a whole remote's traffic) are not rate-limited.
  if (limit <= 0 || ctx.socket.internal) return;
  const now = ctx.engine.clock.now();
  if (now - ctx.state.rateWindowStart >= 1000) {
    ctx.state.rateWindowStart = now;
    ctx.state.rateCount = 0;
  }
  if (++ctx.state.rateCount > limit) throw protocolError(Reason.MessageRateTooHigh, "message rate too high");
}

function isUtf8(bytes: Uint8Array): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Routes an authorised message and acknowledges it once its effects are durable. */
function accept(ctx: ClientContext, packet: PublishPacket, topic: string, batch: CommitBatch): void {
  const broker = ctx.engine;
  // The payload of a kept message is already its own (decodePublish copied it); otherwise it is
  // a view into the read buffer, copied by the router only if a delivery must outlive this call.
  const keep = packet.qos > 0 || packet.retain;
  let message: StoredMessage = {
    topic,
    payload: packet.payload,
    qos: packet.qos,
    retain: packet.retain,
    origin: ctx.state.clientId,
  };
  const props = packet.properties;
  if (props !== undefined && ctx.state.level === 5) {
    const forwarded = { ...props };
    delete forwarded.topicAlias;
    message.properties = forwarded;
    stampExpiry(message, broker.clock);
  }
  if (broker.hooks.onPublish.length > 0) {
    const rewritten = runPublishHooks(ctx, message);
    if (rewritten === null) return acknowledge(ctx, packet, Reason.Success, batch);
    message = rewritten;
  }
  const delivered = broker.router.route(message, batch, keep ? "owned" : "view");
  if (packet.retain) broker.retain(message, batch);
  if (broker.hooks.onPublished.length > 0) {
    const client = hookClient(ctx);
    broker.hooks.notify("onPublished", (h) => h.onPublished!(client, hookMessage(message)));
  }
  broker.peers?.forward(message, batch);
  if (packet.qos === 2) {
    const session = ctx.state.session!;
    const id = packet.packetId!;
    session.inbound2.add(id);
    if (broker.persistMessages && session.persistent) {
      // In the same commit as the messages it queued: after a crash either both are stored
      // (a resend is recognised) or neither (a resend is routed once) [MQTT-4.3.3-10].
      batch.persist({ kind: "putInbound", clientId: ctx.state.clientId, packetId: id });
    }
    // Not committed: a resend of this PUBLISH must be routed again, not taken as a duplicate.
    if (broker.persistMessages) batch.undo(() => session.inbound2.delete(id));
  }
  // In a cluster, subscribers on other nodes are not known here: never claim there were none.
  const none = delivered === 0 && ctx.state.level === 5 && broker.peers?.routing !== "stream";
  const reason = none ? Reason.NoMatchingSubscribers : Reason.Success;
  acknowledge(ctx, packet, reason, batch);
}

function runPublishHooks(ctx: ClientContext, message: StoredMessage): StoredMessage | null {
  const client = hookClient(ctx);
  let current = message;
  for (const hook of ctx.engine.hooks.onPublish) {
    try {
      const result = hook.onPublish!(client, hookMessage(current));
      if (result === null) return null;
      if (result !== undefined) current = { ...current, ...result, payload: result.payload.slice() };
    } catch (err) {
      ctx.engine.log.warn("onPublish hook failed: {error}; message dropped", { error: String(err) });
      return null;
    }
  }
  return current;
}

/**
 * A message the broker will not route. 3.x: dropped silently (still acknowledged so
 * the client does not resend forever); v5: the acknowledgement carries the reason.
 */
function refuseMessage(
  ctx: ClientContext,
  packet: Acknowledged,
  reason: number,
  batch: CommitBatch,
  why: string,
): void {
  ctx.engine.stats.dropped.not_authorized += reason === Reason.NotAuthorized ? 1 : 0;
  // [MQTT-3.1.2-29] a Reason String on an ack only when the client asked for problem information.
  const reasonString = ctx.state.level === 5 && ctx.state.problemInformation ? why : undefined;
  acknowledge(ctx, packet, ctx.state.level === 5 ? reason : Reason.Success, batch, reasonString);
}

/** What an acknowledgement needs of its PUBLISH. */
type Acknowledged = Pick<PublishPacket, "qos" | "packetId">;

/**
 * The acknowledgement sent at once (nothing to wait for), rewritten for each: sendAck encodes
 * it before returning and keeps nothing, so the common PUBACK costs no packet and no closure.
 */
const immediateAck: AckPacket & { properties: undefined } = {
  type: PacketType.PUBACK,
  packetId: 0,
  reasonCode: 0,
  properties: undefined,
};

/** PUBACK (QoS 1) or PUBREC (QoS 2), after the batch is durable. */
function acknowledge(
  ctx: ClientContext,
  packet: Acknowledged,
  reasonCode: number,
  batch: CommitBatch,
  reasonString?: string,
): void {
  if (packet.qos === 0) return;
  const type = packet.qos === 1 ? PacketType.PUBACK : PacketType.PUBREC;
  const packetId = packet.packetId!;
  const flowEnds = packet.qos === 1 || !ctx.state.session!.inbound2.has(packetId);
  if (!batch.deferring && reasonString === undefined) {
    if (flowEnds) ctx.state.inboundUnacked--;
    immediateAck.type = type;
    immediateAck.packetId = packetId;
    immediateAck.reasonCode = reasonCode;
    return ctx.sendAck(immediateAck);
  }
  const ack: AckPacket = {
    type,
    packetId,
    reasonCode,
    properties: reasonString === undefined ? undefined : { reasonString },
  };
  batch.afterCommit(() => {
    if (flowEnds) ctx.state.inboundUnacked--;
    ctx.sendAck(ack);
  });
}

/** PUBREL: the QoS 2 flow completes; PUBCOMP follows once the release is durable. */
export function handlePubrel(ctx: ClientContext, packet: AckPacket, batch: CommitBatch): void {
  const session = ctx.state.session!;
  const known = session.inbound2.delete(packet.packetId);
  if (known && ctx.engine.persistMessages && session.persistent) {
    batch.persist({ kind: "deleteInbound", clientId: ctx.state.clientId, packetId: packet.packetId });
  }
  // (5.0) [MQTT-3.7.2-1] an unknown packet id is answered with 0x92 Packet Identifier not found.
  const reasonCode = known || ctx.state.level !== 5 ? Reason.Success : Reason.PacketIdentifierNotFound;
  batch.afterCommit(() => {
    if (known) ctx.state.inboundUnacked--;
    ctx.sendAck({ type: PacketType.PUBCOMP, packetId: packet.packetId, reasonCode });
  });
}
