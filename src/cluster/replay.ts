/**
 * Catching a session up from the message stream. Every QoS 1/2 message the cluster
 * accepted is in the stream, numbered by its stream sequence, and every node routes
 * them in that order; so "what a session missed while it changed node" is a range of
 * sequences: after the point up to which its old node had routed (and stored) for it,
 * up to the point where its new node starts routing to it. This module reads such a
 * range and picks, for one session, the messages its subscriptions match.
 *
 * @module
 */
import { AckPolicy, DeliverPolicy, type JetStreamClient } from "nats";
import type { MissedMessage } from "../broker/peers.ts";
import { TopicTree } from "../broker/topic_tree.ts";
import type { QoS } from "../protocol/packet.ts";
import { parseSharedFilter } from "../protocol/topic.ts";
import type { LoadedSession, StoredMessage, StoredSubscription } from "../persistence/store.ts";
import { decodeMessage, DURABLE_SUBJECTS } from "./message_wire.ts";
import { retryTransient } from "./nats_retry.ts";

const BATCH = 256;

/**
 * Reads the stream's messages with sequence in (`after`, `upTo`], oldest first, handing each
 * to `visit` (with its `streamSeq`). Survives a NATS server failure: a retry resumes after the
 * last message handed over. Messages the stream already dropped (older than its window) are skipped.
 */
export async function readRange(
  js: JetStreamClient,
  stream: string,
  range: { after: number; upTo: number },
  visit: (message: StoredMessage) => void,
): Promise<void> {
  if (range.upTo <= range.after) return;
  let last = range.after;
  const jsm = await js.jetstreamManager();
  await retryTransient(async () => {
    // A throwaway consumer from the next sequence. Its server may hold a replica that lags behind
    // the stream's leader: what it lacks arrives later, so the read goes on until `upTo`, whatever
    // the consumer first reported as pending.
    const info = await jsm.consumers.add(stream, {
      filter_subject: DURABLE_SUBJECTS,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: last + 1,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: 30_000_000_000,
    });
    try {
      const consumer = await js.consumers.get(stream, info.name);
      while (last < range.upTo) {
        let got = 0;
        const want = Math.min(range.upTo - last, BATCH);
        for await (const m of await consumer.fetch({ max_messages: want, expires: 2000 })) {
          got++;
          // Past the range: the messages up to `upTo` are gone from the stream (older than its window).
          if (m.seq > range.upTo) last = range.upTo;
          if (m.seq <= last) continue;
          const message = decodeMessage(m.subject, m.data, m.headers);
          message.streamSeq = m.seq;
          last = m.seq;
          visit(message);
        }
        // Nothing came: a server is failing or catching up; a retry starts a consumer after `last`.
        if (got === 0) throw Object.assign(new Error("stream read timed out"), { code: "TIMEOUT" });
      }
    } finally {
      await jsm.consumers.delete(stream, info.name).catch(() => {});
    }
  });
}

/**
 * Picks, for one session, the messages it would have been given: those its (non-shared)
 * subscriptions match, once each, at the lower of the message's QoS and the highest granted
 * QoS, with the RETAIN flag and subscription identifiers the router would set. Share groups
 * are not replayed (another member may have had the message), nor QoS 0 deliveries, expired
 * messages, No Local echoes, or messages the session already holds (by stream sequence).
 */
export class MissedSelector {
  readonly clientId: string;
  readonly #tree = new TopicTree<StoredSubscription>();
  readonly #held = new Set<number>();
  readonly #empty: boolean;

  constructor(loaded: LoadedSession) {
    this.clientId = loaded.session.clientId;
    loaded.subscriptions.forEach((sub, i) => {
      if (parseSharedFilter(sub.filter) === null) this.#tree.subscribe(sub.filter, String(i), sub);
    });
    this.#empty = this.#tree.size === 0;
    for (const entry of loaded.outbound) {
      if (entry.message.streamSeq !== undefined) this.#held.add(entry.message.streamSeq);
    }
  }

  /** The session's copy of `message`, or undefined when it would not have received it. */
  select(message: StoredMessage, now: number): MissedMessage | undefined {
    if (this.#empty) return undefined;
    if (message.streamSeq !== undefined && this.#held.has(message.streamSeq)) return undefined;
    if (message.expiresAt !== undefined && message.expiresAt <= now) return undefined;
    const matches = this.#tree.match(message.topic).subscribers;
    if (matches.length === 0) return undefined;
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
    if (local && message.origin === this.clientId) return undefined;
    const qos = Math.min(granted, message.qos) as QoS;
    if (qos === 0) return undefined;
    const missed: MissedMessage = {
      message: message.retain === retain ? message : { ...message, retain },
      qos,
    };
    if (ids.length > 0) missed.subscriptionIds = ids;
    return missed;
  }
}
