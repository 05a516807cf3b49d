/**
 * Carries application messages between nodes over NATS.
 *
 * - QoS 1/2 messages are published into the stream (with a message id, so that a publish
 *   retried through a NATS fault is stored once) and reach every node, the publisher's
 *   too, through its stream feed (stream_feed.ts), in the stream's order.
 * - QoS 0 messages go over core NATS: each node subscribes only to the filters its own
 *   sessions use (one NATS subscription per subject, counted by the filters that need it),
 *   and NATS does the wildcard matching across the cluster. Choice, measured in
 *   docs/benchmarks.md: a node routes its own clients' QoS 0 messages locally at once and
 *   skips that echo when it comes back, so local subscribers keep single-node latency.
 * - Share groups are served from NATS queue groups at every QoS, so that exactly one member
 *   cluster-wide gets each message.
 *
 * @module
 */
import type { JetStreamClient, Msg, NatsConnection, Subscription } from "nats";
import type { CommitBatch } from "../broker/commit_batch.ts";
import type { PeerPort } from "../broker/peers.ts";
import type { StoredMessage } from "../persistence/store.ts";
import { isSystemTopic } from "../protocol/topic.ts";
import {
  decodeMessage,
  decodeOrigin,
  encodeHeaders,
  messageId,
  subjectFor,
  subscriptionSubjects,
} from "./message_wire.ts";
import { retryTransient } from "./nats_retry.ts";
import { escapeLevel } from "./subject_mapping.ts";

interface Held {
  subscription: Subscription;
  count: number;
}

export class NatsRouter {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #port: Pick<PeerPort, "deliver">;
  /** This process's identity on the wire: node id plus a per-start nonce. */
  readonly instance: string;
  readonly #held = new Map<string, Held>();
  /** Per sending instance, the last sequence routed here: drops the copies that overlapping subscriptions bring. */
  readonly seen: Map<string, number> = new Map();
  #seq = 0;
  /** NATS subscriptions were made since the last settled(). */
  #unsettled = false;
  /** Messages forwarded and received (for the benchmark and $SYS-like figures). */
  forwarded = 0;
  received = 0;
  /** Stream publishes that had to be retried through a NATS fault. */
  publishRetries = 0;
  #onError: (err: unknown) => void;

  constructor(nc: NatsConnection, js: JetStreamClient, port: Pick<PeerPort, "deliver">, options: {
    instance: string;
    onError: (err: unknown) => void;
  }) {
    this.#nc = nc;
    this.#js = js;
    this.#port = port;
    this.instance = options.instance;
    this.#onError = options.onError;
  }

  /** The last sequence number this instance has forwarded. */
  get sequence(): number {
    return this.#seq;
  }

  /** Follows the topic tree: a filter that gains its first subscriber is subscribed in NATS. */
  filterChanged(filter: string, group: string | undefined, present: boolean): void {
    // The queue name carries the filter too: NATS would merge equal queue names across subjects.
    const queue = group === undefined ? undefined : escapeLevel(`${group}/${filter}`);
    for (const subject of subscriptionSubjects(filter, group !== undefined)) {
      const key = queue === undefined ? subject : `${subject} ${queue}`;
      const held = this.#held.get(key);
      if (present) {
        if (held !== undefined) {
          held.count++;
          continue;
        }
        const subscription = this.#nc.subscribe(subject, {
          queue,
          callback: (err, msg) => {
            if (err) this.#onError(err);
            else this.#receive(msg, group === undefined ? undefined : { group, filter });
          },
        });
        this.#held.set(key, { subscription, count: 1 });
        this.#unsettled = true;
      } else if (held !== undefined && --held.count === 0) {
        held.subscription.unsubscribe();
        this.#held.delete(key);
      }
    }
  }

  /** Resolves once the NATS server has the subscriptions made since the last call. */
  settled(): Promise<void> | undefined {
    if (!this.#unsettled) return undefined;
    this.#unsettled = false;
    return this.#nc.flush();
  }

  /** Number of NATS subscriptions held (tests check the reference counting). */
  get subscriptionCount(): number {
    return this.#held.size;
  }

  /** Publishes a message accepted on this node; QoS 1/2 make `batch` wait for the stream's ack. */
  forward(message: StoredMessage, batch: CommitBatch): void {
    // "$" topics ($SYS) describe one node and stay on it.
    if (isSystemTopic(message.topic)) return;
    const origin = { node: this.instance, seq: ++this.#seq };
    this.forwarded++;
    const headers = encodeHeaders(message, origin);
    if (message.qos === 0) {
      // nats.js sends on a later microtask and a QoS 0 payload may be a view into a read buffer.
      this.#nc.publish(subjectFor(message), message.payload.slice(), { headers });
      return;
    }
    // Retried through a NATS server's failure until the stream has it; the message id makes the
    // stream keep one copy when an attempt that timed out had in fact been stored.
    const subject = subjectFor(message);
    const options = { headers, msgID: messageId(origin) };
    batch.wait(retryTransient(() => this.#js.publish(subject, message.payload, options), {
      abandoned: () => this.#nc.isClosed(),
      onRetry: () => this.publishRetries++,
    }));
  }

  #receive(msg: Msg, group: { group: string; filter: string } | undefined): void {
    const origin = decodeOrigin(msg.headers);
    if (origin === undefined) return;
    if (group === undefined) {
      // Our own message was routed locally when it was accepted.
      if (origin.node === this.instance) return;
      const last = this.seen.get(origin.node) ?? 0;
      if (origin.seq <= last) return;
      this.seen.set(origin.node, origin.seq);
    }
    this.received++;
    try {
      const message = decodeMessage(msg.subject, msg.data, msg.headers);
      this.#port.deliver(message, { group });
    } catch (err) {
      // One bad message must not end the subscription that brought it.
      this.#onError(err);
    }
  }

  /** Drops every NATS subscription (shutdown). */
  close(): void {
    for (const held of this.#held.values()) held.subscription.unsubscribe();
    this.#held.clear();
  }
}
