/**
 * Outbound delivery to one session: QoS 0 sends, the QoS 1/2 in-flight window,
 * the bounded queue behind it, redelivery after reconnect, and the encoding of
 * outbound PUBLISH packets (shared across subscribers wherever the bytes are equal).
 *
 * @module
 */
import { drained, queued } from "./pacing.ts";
import { type EncodedPublish, encodePacket, encodePublish } from "../protocol/codec.ts";
import { PublishHead } from "../protocol/publish.ts";
import { PacketType, type Properties, type PublishPacket, type QoS } from "../protocol/packet.ts";
import { propertyBytes } from "../protocol/properties.ts";
import type { OutboundEntry, StoredMessage } from "../persistence/store.ts";
import type { Clock } from "./clock.ts";
import type { CommitBatch } from "./commit_batch.ts";
import type { LimitOptions } from "./options.ts";
import type { Session, SessionLink } from "./session.ts";
import type { Hooks } from "./hooks.ts";
import type { ReadAccess } from "./read_access.ts";
import type { BrokerStats, DropReason } from "./stats.ts";

/** What delivery needs from the broker. */
export interface DeliveryContext {
  readonly clock: Clock;
  readonly stats: BrokerStats;
  readonly limits: LimitOptions;
  /** True when outbound state must be written to a durable store. */
  readonly persistMessages: boolean;
  readonly hooks: Hooks;
  /** Delivery-time read checks (ACL): asked before any message is handed to a session. */
  readonly access: ReadAccess;
}

/** Counts a message not delivered to a client, and tells onMessageDropped hooks if any. */
export function dropped(ctx: DeliveryContext, clientId: string, topic: string, reason: DropReason): void {
  ctx.stats.dropped[reason]++;
  if (ctx.hooks.onMessageDropped.length > 0) {
    ctx.hooks.notify("onMessageDropped", (h) => h.onMessageDropped!(clientId, topic, reason));
  }
}

/**
 * Sets when a message expires, from its Message Expiry Interval counted from now (its arrival
 * here); what is left of it is what a subscriber is told [MQTT-3.3.2-6] ({@link outboundPublish}).
 */
export function stampExpiry(message: StoredMessage, clock: Clock): void {
  const seconds = message.properties?.messageExpiryInterval;
  if (seconds !== undefined) message.expiresAt = clock.now() + seconds * 1000;
}

/** Seconds left before `expiresAt`, rounded up; 0 when it has passed. */
function secondsLeft(expiresAt: number, now: number): number {
  return expiresAt <= now ? 0 : Math.ceil((expiresAt - now) / 1000);
}

/**
 * The publisher's properties of a message encoded once, for every subscriber and every resend:
 * they go out unaltered and in order, [MQTT-3.3.2-4] Payload Format Indicator, [MQTT-3.3.2-15]
 * Response Topic, [MQTT-3.3.2-16] Correlation Data, [MQTT-3.3.2-17] [MQTT-3.3.2-18] User
 * Properties, [MQTT-3.3.2-20] Content Type. Keyed by the properties object, which a message keeps
 * (and shares with its retained copy and queued entries) and nobody changes once published;
 * a WeakMap, so the bytes go when the message does.
 */
const sharedBytes = new WeakMap<Properties, Uint8Array>();

/** The property bytes every delivery of `message` shares (undefined when there are none). */
export function sharedProperties(message: StoredMessage): Uint8Array | undefined {
  const props = message.properties;
  if (props === undefined) return undefined;
  let bytes = sharedBytes.get(props);
  if (bytes === undefined) {
    // Everything but what differs per delivery (set by outboundPublish and encodeForLink).
    const { messageExpiryInterval: _e, subscriptionIdentifiers: _s, topicAlias: _a, ...rest } = props;
    bytes = propertyBytes(rest, PacketType.PUBLISH);
    sharedBytes.set(props, bytes);
  }
  return bytes.length > 0 ? bytes : undefined;
}

/**
 * The PUBLISH to send for `message`, with the properties that differ per delivery: the
 * Message Expiry Interval, reduced by the time the message waited [MQTT-3.3.2-6], and the
 * subscription identifiers of the matching subscriptions [MQTT-3.3.4-3]. The publisher's
 * other properties are {@link sharedProperties}, added by {@link encodeForLink}.
 */
export function outboundPublish(
  message: StoredMessage,
  qos: QoS,
  retain: boolean,
  subscriptionIds: number[] | undefined,
  now: number,
): PublishPacket {
  let properties: Properties | undefined;
  if (message.expiresAt !== undefined || subscriptionIds !== undefined) {
    properties = {};
    if (message.expiresAt !== undefined) {
      properties.messageExpiryInterval = Math.max(1, secondsLeft(message.expiresAt, now));
    }
    if (subscriptionIds !== undefined) properties.subscriptionIdentifiers = subscriptionIds;
  }
  return {
    type: PacketType.PUBLISH,
    topic: message.topic,
    payload: message.payload,
    qos,
    retain,
    dup: false,
    packetId: qos > 0 ? 1 : undefined, // patched per subscriber at write time
    properties,
  };
}

/**
 * Encodes `packet` (from {@link outboundPublish} of `message`) for one link, with the
 * message's shared properties, applying the link's outbound topic alias when it has any.
 * With `head`, the bytes go into that reused head (valid until its next encoding).
 */
export function encodeForLink(
  link: SessionLink,
  message: StoredMessage,
  packet: PublishPacket,
  head?: PublishHead,
): EncodedPublish {
  if (link.level < 5) return head ? head.encode(packet, link.level) : encodePublish(packet, link.level);
  if (link.aliases !== null) {
    const { alias, sendTopic } = link.aliases.lookup(packet.topic);
    packet = {
      ...packet,
      topic: sendTopic ? packet.topic : "",
      properties: { ...packet.properties, topicAlias: alias },
    };
  }
  const shared = sharedProperties(message);
  return head ? head.encode(packet, link.level, shared) : encodePublish(packet, link.level, shared);
}

const NO_PAYLOAD = new Uint8Array(0);

/** The packet {@link deliveryPacket} fills when nothing differs per delivery (encoders keep none of it). */
const plainPacket: PublishPacket = {
  type: PacketType.PUBLISH,
  topic: "",
  payload: NO_PAYLOAD,
  qos: 0,
  retain: false,
  dup: false,
  packetId: undefined,
  properties: undefined,
};

/**
 * {@link outboundPublish} for an encoding made at once: without per-delivery properties (the
 * common case) one shared packet is filled instead of a new one. Call {@link doneWith} after encoding.
 */
export function deliveryPacket(
  message: StoredMessage,
  qos: QoS,
  retain: boolean,
  subscriptionIds: number[] | undefined,
  now: number,
): PublishPacket {
  if (message.expiresAt !== undefined || subscriptionIds !== undefined) {
    return outboundPublish(message, qos, retain, subscriptionIds, now);
  }
  const p = plainPacket;
  p.topic = message.topic;
  p.payload = message.payload;
  p.qos = qos;
  p.retain = retain;
  p.packetId = qos > 0 ? 1 : undefined; // patched per subscriber at write time
  return p;
}

/** Lets go of the payload a {@link deliveryPacket} referred to (it may be large). */
export function doneWith(packet: PublishPacket): void {
  if (packet === plainPacket) plainPacket.payload = NO_PAYLOAD;
}

/**
 * Writes an encoded PUBLISH to a link unless it exceeds the client's Maximum
 * Packet Size, in which case it is dropped for that client as if sent [MQTT-3.1.2-25].
 * Returns false when dropped.
 */
export function writePublish(
  ctx: DeliveryContext,
  link: SessionLink,
  encoded: EncodedPublish,
  packetId: number,
): boolean {
  const size = encoded.headLength + encoded.payload.length;
  if (size > link.maxPacketSize) {
    ctx.stats.dropped.packet_too_large++;
    return false;
  }
  if (ctx.hooks.onDeliver.length > 0) notifyDeliver(ctx, link, encoded);
  link.socket.writePublish(encoded, packetId);
  const stats = ctx.stats;
  stats.packetsSent[PacketType.PUBLISH]++;
  stats.bytesSentByType[PacketType.PUBLISH] += size;
  stats.messagesSent++;
  stats.bytesSent += size;
  return true;
}

/** onDeliver hooks see the message as the client receives it (slow path: only with hooks). */
function notifyDeliver(ctx: DeliveryContext, link: SessionLink, encoded: EncodedPublish): void {
  const head = encoded.head;
  let offset = 1;
  while (head[offset] & 0x80) offset++;
  const topicLength = (head[offset + 1] << 8) | head[offset + 2];
  const topic = new TextDecoder().decode(head.subarray(offset + 3, offset + 3 + topicLength));
  const qos = ((head[0] >> 1) & 3) as QoS;
  const owner = (link as { clientId?: string }).clientId ?? "";
  ctx.hooks.notify(
    "onDeliver",
    (h) => h.onDeliver!(owner, { topic, payload: encoded.payload, qos, retain: (head[0] & 1) === 1 }),
  );
}

/**
 * What a queued message counts against limits.max_queued_bytes: its payload and its encoded
 * properties, which a hostile publisher can make as large as its payload (up to 64 KiB by default).
 */
export function queuedSize(message: StoredMessage): number {
  return message.payload.length + (sharedProperties(message)?.length ?? 0);
}

/** Whether a queued message still fits the per-client bounds. */
function queueHasRoom(ctx: DeliveryContext, session: Session, message: StoredMessage): boolean {
  return session.queuedCount < (session.queueLimit ?? ctx.limits.maxQueuedMessages) &&
    session.queuedBytes + queuedSize(message) <= ctx.limits.maxQueuedBytes;
}

/**
 * Where {@link placeEntry} put an entry: in the window, to be sent by the caller ("send");
 * in the queue; or nowhere, the queue being full ("dropped", counted).
 */
export type Placement = "send" | "queued" | "dropped";

/**
 * Hands a QoS 1/2 (or queued QoS 0) entry to a session: straight into the
 * in-flight window when the client is online and the window has room, otherwise
 * into the bounded queue. Returns false when the queue is full (dropped, counted).
 */
export function admitEntry(
  ctx: DeliveryContext,
  session: Session,
  entry: OutboundEntry,
  batch: CommitBatch,
  encoded?: EncodedPublish,
): boolean {
  const placed = placeEntry(ctx, session, entry, batch);
  if (placed === "send") {
    const link = session.link!;
    batch.afterCommit(() => sendEntry(ctx, session, link, entry, encoded));
  }
  return placed !== "dropped";
}

/**
 * {@link admitEntry} without the send: an entry placed in the window ("send") is the caller's
 * to send with {@link sendEntry} (at once, or after the batch's commit when it defers), so that
 * it can choose bytes that live as long as the send waits.
 */
export function placeEntry(
  ctx: DeliveryContext,
  session: Session,
  entry: OutboundEntry,
  batch: CommitBatch,
): Placement {
  const link = session.link;
  const persist = ctx.persistMessages && session.persistent && entry.qos > 0;
  if (link !== null && session.queuedCount === 0 && session.inflightCount < link.sendWindow) {
    if (entry.qos === 0) return "send";
    entry.packetId = session.allocatePacketId();
    session.inflight.set(entry.packetId, entry);
    if (persist) batch.persist({ kind: "putOutbound", clientId: session.clientId, entry });
    // Not sent before the commit: if it fails, the message was not accepted and must not stay.
    if (ctx.persistMessages && batch.deferring) batch.undo(() => withdraw(session, entry));
    return "send";
  }
  if (!queueHasRoom(ctx, session, entry.message)) {
    dropped(ctx, session.clientId, entry.message.topic, "queue_full");
    return "dropped";
  }
  session.queue.push(entry);
  session.queuedBytes += queuedSize(entry.message);
  if (link !== null) queued(session, ctx.limits.pacePublishersAt);
  if (persist) batch.persist({ kind: "putOutbound", clientId: session.clientId, entry });
  // Only a durable store's commit can fail.
  if (ctx.persistMessages) batch.undo(() => withdraw(session, entry));
  return "queued";
}

/**
 * Takes an entry back out of a session (its commit failed): out of the in-flight window
 * (where it was never sent) or the queue. The freed slot is refilled by the next pump.
 */
function withdraw(session: Session, entry: OutboundEntry): void {
  if (entry.packetId !== 0 && session.inflight.get(entry.packetId) === entry) {
    session.inflight.delete(entry.packetId);
    return;
  }
  const i = session.queue.indexOf(entry);
  if (i < 0) return;
  session.queue.splice(i, 1);
  session.queuedBytes -= queuedSize(entry.message);
}

/** The head entries are encoded into when they are sent without a shared encoding (written at once). */
const sendHead = new PublishHead();

/**
 * Sends one entry if its link is still the session's link (a reconnect resends it otherwise),
 * as `encoded` when given (a shared encoding, valid for the call), else encoded here.
 */
export function sendEntry(
  ctx: DeliveryContext,
  session: Session,
  link: SessionLink,
  entry: OutboundEntry,
  encoded: EncodedPublish | undefined,
): void {
  if (session.link !== link) return;
  if (entry.qos > 0 && session.inflight.get(entry.packetId) !== entry) return;
  const message = entry.message;
  // The clock only for a message that expires.
  const now = message.expiresAt === undefined ? 0 : ctx.clock.now();
  if (message.expiresAt !== undefined && message.expiresAt <= now) {
    dropped(ctx, session.clientId, message.topic, "expired");
    forgetInflight(ctx, session, entry, null);
    return;
  }
  let sent: boolean;
  if (encoded !== undefined) {
    sent = writePublish(ctx, link, encoded, entry.packetId);
  } else {
    const packet = deliveryPacket(message, entry.qos, message.retain, entry.subscriptionIds, now);
    sent = writePublish(ctx, link, encodeForLink(link, message, packet, sendHead), entry.packetId);
    doneWith(packet);
    sendHead.release();
  }
  if (!sent) forgetInflight(ctx, session, entry, null);
}

/** Removes an entry from the window (and the store); the caller pumps afterwards. */
export function forgetInflight(
  ctx: DeliveryContext,
  session: Session,
  entry: OutboundEntry,
  batch: CommitBatch | null,
): void {
  if (entry.qos === 0) return;
  session.inflight.delete(entry.packetId);
  if (ctx.persistMessages && session.persistent) {
    const mutation = { kind: "deleteOutbound", clientId: session.clientId, seq: entry.seq } as const;
    if (batch) batch.persist(mutation);
    // Without a batch (a drop at send time) the delete is not urgent: a stale entry
    // only causes one redelivery after a crash, which QoS 1/2 permits.
  }
}

/** Whether the session may still receive a stored entry (its client is connected, so its user is known). */
function mayReceive(ctx: DeliveryContext, session: Session, entry: OutboundEntry): boolean {
  return !ctx.access.active || ctx.access.allows(session, entry.message.topic) !== false;
}

/** Moves queued entries into the window while it has room. */
export function pump(ctx: DeliveryContext, session: Session, batch: CommitBatch): void {
  const link = session.link;
  if (link === null) return;
  while (session.queuedCount > 0 && session.inflightCount < link.sendWindow) {
    const entry = session.queue.shift()!;
    session.queuedBytes -= queuedSize(entry.message);
    const persisted = ctx.persistMessages && session.persistent && entry.qos > 0;
    const expired = entry.message.expiresAt !== undefined && entry.message.expiresAt <= ctx.clock.now();
    // Queued while the client was away or its window was full: read access may have been revoked since.
    if (expired || !mayReceive(ctx, session, entry)) {
      if (expired) dropped(ctx, session.clientId, entry.message.topic, "expired");
      if (persisted) batch.persist({ kind: "deleteOutbound", clientId: session.clientId, seq: entry.seq });
      continue;
    }
    if (entry.qos > 0) {
      entry.packetId = session.allocatePacketId();
      session.inflight.set(entry.packetId, entry);
      // QoS 2: the packet id is made durable before the PUBLISH leaves, so that a resend after
      // a crash reuses it and the receiver recognises the duplicate. QoS 1 may be redelivered
      // under a new id (at least once), so it does not wait for a commit here.
      if (persisted && entry.qos === 2) {
        batch.persist({ kind: "putOutbound", clientId: session.clientId, entry });
      }
    }
    // (A closure only when the send has to wait: the common pump sends at once.)
    if (batch.deferring) batch.afterCommit(() => sendEntry(ctx, session, link, entry, undefined));
    else sendEntry(ctx, session, link, entry, undefined);
  }
  if (session.pacing !== null) drained(session, ctx.limits.pacePublishersAt);
}

/**
 * After a session is resumed on a new connection: resend every unacknowledged
 * PUBLISH with DUP set [MQTT-4.4.0-1] and every PUBREL [MQTT-4.4.0-2], in their
 * original order, then fill the window from the queue.
 */
export function redeliver(ctx: DeliveryContext, session: Session, batch: CommitBatch): void {
  const link = session.link;
  if (link === null) return;
  const now = ctx.clock.now();
  for (const entry of session.inflight.values()) {
    if (entry.phase === "pubrel") {
      batch.afterCommit(() => {
        link.socket.write(
          encodePacket({ type: PacketType.PUBREL, packetId: entry.packetId, reasonCode: 0 }, link.level),
        );
      });
      continue;
    }
    if (!mayReceive(ctx, session, entry)) {
      // Sent before, not acknowledged, and no longer readable by this client: withheld.
      forgetInflight(ctx, session, entry, batch);
      continue;
    }
    const packet = outboundPublish(
      entry.message,
      entry.qos,
      entry.message.retain,
      entry.subscriptionIds,
      now,
    );
    packet.dup = true;
    packet.packetId = entry.packetId;
    batch.afterCommit(() => {
      if (session.link === link) {
        writePublish(
          ctx,
          link,
          encodePublish(packet, link.level, sharedProperties(entry.message)),
          entry.packetId,
        );
      }
    });
  }
  pump(ctx, session, batch);
}
