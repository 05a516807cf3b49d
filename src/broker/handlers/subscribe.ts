/**
 * SUBSCRIBE and UNSUBSCRIBE: filter validation, feature and quota checks,
 * authorisation, the subscription tree, and retained messages per Retain Handling.
 *
 * @module
 */
import { ProtocolError, protocolError } from "../../protocol/errors.ts";
import {
  PacketType,
  type QoS,
  Reason,
  SubackFailureV4,
  type SubscribePacket,
  type SubscriptionRequest,
  type UnsubscribePacket,
} from "../../protocol/packet.ts";
import { parseSharedFilter, validateTopicFilter } from "../../protocol/topic.ts";
import type { CommitBatch } from "../commit_batch.ts";
import { type ClientContext, hookClient } from "../client_context.ts";
import type { RetainedDelivery } from "../router.ts";
import { type Subscription, subscriptionKey } from "../session.ts";

export async function handleSubscribe(
  ctx: ClientContext,
  packet: SubscribePacket,
  batch: CommitBatch,
): Promise<void> {
  const ids = packet.properties?.subscriptionIdentifiers;
  if (ids !== undefined && !ctx.engine.mqtt.subscriptionIdentifiers) {
    // Subscription identifiers were not advertised: using one is a protocol error (0xA1).
    throw protocolError(Reason.SubscriptionIdentifiersNotSupported, "subscription identifiers not supported");
  }
  const reasonCodes: number[] = [];
  const retainedWork: (() => void)[] = [];
  for (const request of packet.subscriptions) {
    const code = await subscribeOne(ctx, request, ids?.[0], batch, retainedWork);
    // 3.1.1 has a single failure code, 0x80 (3.1.1) [MQTT-3.9.3-2].
    reasonCodes.push(ctx.state.level === 5 || code < 0x80 ? code : SubackFailureV4);
  }
  const settled = ctx.engine.peers?.settled();
  if (settled !== undefined) batch.wait(settled);
  // [MQTT-3.8.4-1] SUBACK answers SUBSCRIBE with the same packet id, one code per filter [MQTT-3.8.4-6].
  batch.afterCommit(() => ctx.send({ type: PacketType.SUBACK, packetId: packet.packetId, reasonCodes }));
  for (const work of retainedWork) work();
}

/** Returns the granted QoS or a failure reason code. */
async function subscribeOne(
  ctx: ClientContext,
  request: SubscriptionRequest,
  subscriptionId: number | undefined,
  batch: CommitBatch,
  retainedWork: (() => void)[],
): Promise<number> {
  const broker = ctx.engine;
  const session = ctx.state.session!;
  let shared: { group: string; filter: string } | null;
  try {
    validateTopicFilter(request.filter);
    shared = parseSharedFilter(request.filter);
  } catch (err) {
    if (err instanceof ProtocolError) return Reason.TopicFilterInvalid;
    throw err;
  }
  const filter = shared?.filter ?? request.filter;
  if (shared !== null) {
    if (!broker.mqtt.sharedSubscriptions) return Reason.SharedSubscriptionsNotSupported;
    // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
    if (request.noLocal) throw protocolError(Reason.ProtocolError, "No Local on a shared subscription");
  }
  if (!broker.mqtt.wildcardSubscriptions && /[+#]/.test(filter)) {
    return Reason.WildcardSubscriptionsNotSupported;
  }
  if (
    filter.length > broker.limits.maxTopicLength || filter.split("/").length > broker.limits.maxTopicLevels
  ) {
    return Reason.TopicFilterInvalid;
  }
  const key = subscriptionKey(filter, shared?.group);
  const isNew = !session.subscriptions.has(key);
  if (
    isNew && broker.limits.maxSubscriptions > 0 &&
    session.subscriptionCount >= broker.limits.maxSubscriptions
  ) {
    return Reason.QuotaExceeded;
  }
  const allowed = await broker.authorize(
    { clientId: ctx.state.clientId, username: ctx.state.username },
    "read",
    filter,
  );
  if (!allowed) return Reason.NotAuthorized;

  const granted = (request.qos < broker.mqtt.maxQoS ? request.qos : broker.mqtt.maxQoS) as QoS;
  const sub: Subscription = {
    filter: request.filter,
    qos: granted,
    // A 3.x bridge (bridge bit) gets its own messages neither back nor with RETAIN cleared.
    noLocal: request.noLocal || ctx.state.bridge,
    retainAsPublished: request.retainAsPublished || ctx.state.bridge,
    retainHandling: request.retainHandling,
    session,
  };
  if (subscriptionId !== undefined) sub.subscriptionId = subscriptionId;
  if (shared !== null) sub.group = shared.group;
  // [MQTT-3.8.4-3] a subscription with the same filter replaces the existing one.
  const previous = session.subscriptions.get(key);
  session.subscriptions.set(key, sub);
  broker.tree.subscribe(filter, session.clientId, sub, shared?.group);
  if (session.persistent) {
    const { session: _s, group: _g, ...stored } = sub;
    batch.persist({ kind: "putSubscription", clientId: session.clientId, subscription: stored });
    // Not stored: the session keeps what it had (its SUBACK is never sent).
    batch.undo(() => {
      if (session.subscriptions.get(key) !== sub) return;
      if (previous === undefined) {
        session.subscriptions.delete(key);
        broker.tree.unsubscribe(filter, session.clientId, shared?.group);
      } else {
        session.subscriptions.set(key, previous);
        broker.tree.subscribe(filter, session.clientId, previous, shared?.group);
      }
    });
  }
  broker.hooks.notify("onSubscribe", (h) => h.onSubscribe!(hookClient(ctx), request.filter, granted));
  // Retained messages: not for shared subscriptions; Retain Handling 0 always, 1 only for a
  // new subscription, 2 never [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11].
  const sendRetained = shared === null && broker.mqtt.retainAvailable &&
    (request.retainHandling === 0 || (request.retainHandling === 1 && isNew));
  if (sendRetained) {
    const ids = sub.subscriptionId === undefined ? undefined : [sub.subscriptionId];
    const to: RetainedDelivery = { session, qos: granted, retainAsPublished: true, subscriptionIds: ids };
    retainedWork.push(() => sendRetainedMessages(ctx, filter, to, batch));
  }
  return granted;
}

/** Sends the retained messages matching a new subscription, with RETAIN set [MQTT-3.3.1-8]. */
function sendRetainedMessages(
  ctx: ClientContext,
  filter: string,
  to: RetainedDelivery,
  batch: CommitBatch,
): void {
  const broker = ctx.engine;
  const now = broker.clock.now();
  for (const message of broker.retained.match(filter)) {
    if (message.expiresAt !== undefined && message.expiresAt <= now) continue;
    broker.router.deliverRetained(message, batch, to);
  }
}

export function handleUnsubscribe(ctx: ClientContext, packet: UnsubscribePacket, batch: CommitBatch): void {
  const broker = ctx.engine;
  const session = ctx.state.session!;
  const reasonCodes: number[] = [];
  for (const full of packet.filters) {
    let shared: { group: string; filter: string } | null = null;
    try {
      shared = parseSharedFilter(full);
    } catch {
      reasonCodes.push(Reason.TopicFilterInvalid);
      continue;
    }
    const filter = shared?.filter ?? full;
    const key = subscriptionKey(filter, shared?.group);
    if (!session.subscriptions.delete(key)) {
      reasonCodes.push(Reason.NoSubscriptionExisted);
      continue;
    }
    broker.tree.unsubscribe(filter, session.clientId, shared?.group);
    if (session.persistent) {
      batch.persist({ kind: "deleteSubscription", clientId: session.clientId, filter: full });
    }
    broker.hooks.notify("onUnsubscribe", (h) => h.onUnsubscribe!(hookClient(ctx), full));
    reasonCodes.push(Reason.Success);
  }
  // [MQTT-3.10.4-4] UNSUBACK answers UNSUBSCRIBE with the same packet id; codes only in v5.
  const codes = ctx.state.level === 5 ? reasonCodes : [];
  batch.afterCommit(() =>
    ctx.send({ type: PacketType.UNSUBACK, packetId: packet.packetId, reasonCodes: codes })
  );
}
