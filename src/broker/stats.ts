/**
 * Plain counters the engine bumps on its hot paths (a property increment, no
 * allocation). $SYS topics and the metrics endpoint read them.
 *
 * @module
 */
import { PacketType } from "../protocol/packet.ts";

/**
 * Why a message was not delivered to a client. Bounded set: used as a metrics label.
 *
 * @example
 * ```ts
 * import { Broker, type DropReason } from "../mod.ts";
 * const broker = new Broker().use({
 *   onMessageDropped: (clientId: string, topic: string, reason: DropReason) => console.log(clientId, topic, reason),
 * });
 * await broker.close();
 * ```
 */
export type DropReason =
  | "queue_full"
  | "slow_consumer"
  | "expired"
  | "packet_too_large"
  | "offline_qos0"
  | "not_authorized"
  | "quota_exceeded";

/** Upper bounds (ms) of the store commit latency histogram buckets; the last bucket is +Inf. */
export const COMMIT_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 1000] as const;

/** Most distinct topics one rate sample tracks. */
export const TOPIC_SAMPLE_LIMIT = 1000;

/**
 * The broker's counters since start, as the admin API, metrics and $SYS read them.
 *
 * @example
 * ```ts
 * import { Broker, type BrokerCounters } from "../mod.ts";
 * const broker = new Broker();
 * await broker.publish({ topic: "t", payload: "x" });
 * const counters: BrokerCounters = broker.admin.counters;
 * console.log(counters.messagesReceived, counters.droppedTotal);
 * await broker.close();
 * ```
 */
export interface BrokerCounters {
  /** Broker-clock time (ms) the broker was created. */
  readonly startedAt: number;
  /** Network connections accepted since start. */
  readonly connectionsTotal: number;
  /** Clients connected now (CONNECT accepted). */
  readonly clientsConnected: number;
  /** Highest number of clients connected at once. */
  readonly clientsMaximum: number;
  /** Application messages received (from clients, peers and the broker itself; not $SYS updates). */
  readonly messagesReceived: number;
  /** Application messages sent to clients. */
  readonly messagesSent: number;
  /** PUBLISH packets received from clients. */
  readonly publishReceived: number;
  /** PUBLISH packets sent to clients. */
  readonly publishSent: number;
  /** Bytes received from clients. */
  readonly bytesReceived: number;
  /** Bytes sent to clients. */
  readonly bytesSent: number;
  /** CONNECT packets refused. */
  readonly connectRefused: number;
  /** Connections closed for a malformed packet or a protocol error. */
  readonly protocolErrors: number;
  /** Messages not delivered, by reason. */
  readonly dropped: Readonly<Record<DropReason, number>>;
  /** Total messages dropped, all reasons. */
  readonly droppedTotal: number;
  /** Control packets received, indexed by packet type (1..15). */
  readonly packetsReceived: readonly number[];
  /** Control packets sent, indexed by packet type (1..15). */
  readonly packetsSent: readonly number[];
  /** Bytes received, by packet type. */
  readonly bytesReceivedByType: readonly number[];
  /** Bytes sent, by packet type. */
  readonly bytesSentByType: readonly number[];
  /** Store commit latency: counts per bucket of {@link COMMIT_BUCKETS_MS} (the last one: slower). */
  readonly commitBuckets: readonly number[];
  /** Total time spent in store commits (ms). */
  readonly commitSumMs: number;
  /** Store commits timed. */
  readonly commitCount: number;
}

/** Broker-wide counters since start. */
export class BrokerStats implements BrokerCounters {
  readonly startedAt: number;
  connectionsTotal = 0;
  clientsConnected = 0;
  /** Highest number of clients connected at once. */
  clientsMaximum = 0;
  messagesReceived = 0;
  messagesSent = 0;
  publishReceived = 0;
  bytesReceived = 0;
  bytesSent = 0;
  connectRefused = 0;
  protocolErrors = 0;
  readonly dropped: Record<DropReason, number> = {
    queue_full: 0,
    slow_consumer: 0,
    expired: 0,
    packet_too_large: 0,
    offline_qos0: 0,
    not_authorized: 0,
    quota_exceeded: 0,
  };

  /** Control packets received and sent, indexed by packet type (1..15). */
  readonly packetsReceived: number[] = new Array(16).fill(0);
  readonly packetsSent: number[] = new Array(16).fill(0);
  /** Bytes received and sent, by packet type. */
  readonly bytesReceivedByType: number[] = new Array(16).fill(0);
  readonly bytesSentByType: number[] = new Array(16).fill(0);
  /**
   * Messages received per topic since the last {@link takeTopicSample}; null
   * (and free on the hot path) until an observer asks for it. Holds at most
   * {@link TOPIC_SAMPLE_LIMIT} topics so that a flood of distinct topics cannot grow it.
   */
  topicSample: Map<string, number> | null = null;
  /** Store commit latency: counts per bucket of {@link COMMIT_BUCKETS_MS}, plus sum and count. */
  readonly commitBuckets: number[] = new Array(COMMIT_BUCKETS_MS.length + 1).fill(0);
  commitSumMs = 0;
  commitCount = 0;

  constructor(now: number) {
    this.startedAt = now;
  }

  /** Counts a message on `topic` when sampling is on. */
  sampleTopic(topic: string): void {
    const sample = this.topicSample;
    if (sample === null) return;
    const n = sample.get(topic);
    if (n !== undefined) sample.set(topic, n + 1);
    else if (sample.size < TOPIC_SAMPLE_LIMIT) sample.set(topic, 1);
  }

  /** Returns the per-topic counts gathered since the last call and starts a new sample. */
  takeTopicSample(): Map<string, number> {
    const taken = this.topicSample ?? new Map();
    this.topicSample = new Map();
    return taken;
  }

  /** Records how long one durable store commit took. */
  observeCommit(ms: number): void {
    let i = 0;
    while (i < COMMIT_BUCKETS_MS.length && ms > COMMIT_BUCKETS_MS[i]) i++;
    this.commitBuckets[i]++;
    this.commitSumMs += ms;
    this.commitCount++;
  }

  /** PUBLISH packets sent to clients. */
  get publishSent(): number {
    return this.packetsSent[PacketType.PUBLISH];
  }

  /** Total messages dropped, all reasons. */
  get droppedTotal(): number {
    let sum = 0;
    for (const n of Object.values(this.dropped)) sum += n;
    return sum;
  }
}
