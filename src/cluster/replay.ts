/**
 * Catching a session up from the message stream. When a session changes node, the
 * messages its old node had not yet stored for it are read back from the stream of
 * QoS 1/2 messages: those after a point in time, minus those the old node had
 * already routed (known by sender instance and sequence), that match the session's
 * subscriptions.
 *
 * @module
 */
import { AckPolicy, DeliverPolicy, type JetStreamClient } from "nats";
import { TopicTree } from "../broker/topic_tree.ts";
import type { QoS } from "../protocol/packet.ts";
import { parseSharedFilter } from "../protocol/topic.ts";
import type {
  LoadedSession,
  OutboundEntry,
  StoredMessage,
  StoredSubscription,
} from "../persistence/store.ts";
import { decodeMessage, decodeOrigin, DURABLE_SUBJECTS } from "./message_wire.ts";

/** Where a replay starts: a time, and per sender instance the last sequence already routed. */
export interface ReplayPoint {
  since: number;
  seen: Record<string, number>;
}

/** QoS 1/2 messages in the stream after `point` (oldest first). */
export async function readMissed(
  js: JetStreamClient,
  stream: string,
  point: ReplayPoint,
): Promise<StoredMessage[]> {
  const jsm = await js.jetstreamManager();
  // A throwaway consumer says how many messages follow the point, so the read never waits for more.
  const info = await jsm.consumers.add(stream, {
    filter_subject: DURABLE_SUBJECTS,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(Math.max(0, point.since)).toISOString(),
    ack_policy: AckPolicy.None,
    mem_storage: true,
    inactive_threshold: 30_000_000_000,
  });
  const out: StoredMessage[] = [];
  try {
    let pending = info.num_pending;
    const consumer = await js.consumers.get(stream, info.name);
    while (pending > 0) {
      let got = 0;
      for await (const m of await consumer.fetch({ max_messages: Math.min(pending, 256), expires: 2000 })) {
        got++;
        const origin = decodeOrigin(m.headers);
        if (origin !== undefined && origin.seq > (point.seen[origin.node] ?? 0)) {
          out.push(decodeMessage(m.subject, m.data, m.headers));
        }
      }
      if (got === 0) break;
      pending -= got;
    }
  } finally {
    await jsm.consumers.delete(stream, info.name).catch(() => {});
  }
  return out;
}

/**
 * Queues the messages that match the session's (non-shared) subscriptions, as the router
 * would have: once per message, at the lower of its QoS and the highest granted QoS.
 * Share groups are not replayed: another member may have received the message.
 * Returns the new entries.
 */
export function queueMissed(loaded: LoadedSession, messages: StoredMessage[], now: number): OutboundEntry[] {
  const tree = new TopicTree<StoredSubscription>();
  loaded.subscriptions.forEach((sub, i) => {
    if (parseSharedFilter(sub.filter) === null) tree.subscribe(sub.filter, String(i), sub);
  });
  let seq = loaded.outbound.reduce((max, e) => Math.max(max, e.seq), 0);
  const added: OutboundEntry[] = [];
  for (const message of messages) {
    if (message.expiresAt !== undefined && message.expiresAt <= now) continue;
    const matches = tree.match(message.topic).subscribers;
    if (matches.length === 0) continue;
    let granted = 0;
    let retain = false;
    let local = true;
    const ids: number[] = [];
    for (const [, sub] of matches) {
      granted = Math.max(granted, sub.qos);
      retain ||= sub.retainAsPublished && message.retain;
      local &&= sub.noLocal;
      if (sub.subscriptionId !== undefined) ids.push(sub.subscriptionId);
    }
    if (local && message.origin === loaded.session.clientId) continue;
    const qos = Math.min(granted, message.qos) as QoS;
    if (qos === 0) continue;
    const entry: OutboundEntry = {
      seq: ++seq,
      packetId: 0,
      phase: "publish",
      qos,
      message: message.retain === retain ? message : { ...message, retain },
    };
    if (ids.length > 0) entry.subscriptionIds = ids;
    added.push(entry);
  }
  loaded.outbound.push(...added);
  return added;
}
