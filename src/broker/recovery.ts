/**
 * Rebuilds the engine's in-memory state from a store snapshot at start.
 *
 * @module
 */
import type { LoadedSession, StoreSnapshot } from "../persistence/store.ts";
import { parseSharedFilter } from "../protocol/topic.ts";
import type { BrokerContext } from "./context.ts";
import { queuedSize } from "./delivery.ts";
import { Session, type Subscription, subscriptionKey, treeFilter } from "./session.ts";

/** Restores sessions (subscriptions, queues, in-flight, inbound QoS 2) and retained messages. */
export function restoreState(
  broker: BrokerContext,
  snapshot: StoreSnapshot,
): { sessions: number; retained: number } {
  const now = broker.clock.now();
  for (const loaded of snapshot.sessions) restoreSession(broker, loaded);
  let retained = 0;
  for (const message of snapshot.retained) {
    if (message.expiresAt !== undefined && message.expiresAt <= now) continue;
    broker.retained.set(message);
    retained++;
  }
  return { sessions: snapshot.sessions.length, retained };
}

/**
 * Puts one stored session back in memory: subscriptions in the tree, queue, in-flight, inbound QoS 2.
 * With `routed` false its subscriptions stay out of the tree until {@link routeToSession} (a cluster
 * node first catches the session up on what it missed, in order).
 */
export function restoreSession(broker: BrokerContext, loaded: LoadedSession, routed = true): Session {
  const stored = loaded.session;
  const session = new Session(stored.clientId, stored.protocolLevel, stored.expiryInterval);
  session.will = stored.will;
  session.owner = stored.username;
  session.disconnectedAt = stored.disconnectedAt;
  for (const s of loaded.subscriptions) {
    const shared = parseSharedFilter(s.filter);
    const filter = shared?.filter ?? s.filter;
    const sub: Subscription = { ...s, session };
    if (shared !== null) sub.group = shared.group;
    session.subscriptions.set(subscriptionKey(filter, shared?.group), sub);
    if (routed) broker.tree.subscribe(filter, session.clientId, sub, shared?.group);
  }
  let lastSeq = 0;
  for (const entry of loaded.outbound) {
    lastSeq = Math.max(lastSeq, entry.seq);
    if (entry.packetId !== 0) {
      session.inflight.set(entry.packetId, entry);
    } else {
      session.queue.push(entry);
      session.queuedBytes += queuedSize(entry.message);
    }
  }
  session.resumeSequence(lastSeq);
  for (const id of loaded.inbound) session.inbound2.add(id);
  // Without a stored owner (a record from before owners were stored), delivery-time read checks
  // wait for the client to come back; an anonymous owner (null) is known, and checked as such.
  if (session.owner === undefined) session.identityKnown = false;
  broker.sessions.set(session.clientId, session);
  return session;
}

/** Adds the subscriptions of a session restored with `routed` false to the tree: routing to it starts. */
export function routeToSession(broker: BrokerContext, session: Session): void {
  for (const sub of session.subscriptions.values()) {
    broker.tree.subscribe(treeFilter(sub), session.clientId, sub, sub.group);
  }
}
