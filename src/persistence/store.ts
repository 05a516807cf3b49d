/**
 * The persistence interfaces the broker engine writes through. The engine keeps its
 * working state in memory; a store is its durable mirror. Writes are expressed as
 * mutations so that an implementation can group many of them into one atomic commit.
 *
 * Every store is a {@link Store} (commit, close) and reads back in one of two ways:
 * a {@link SnapshotStore} belongs to one broker, which restores the whole of it at
 * start (MemoryStore, KvStore); a {@link ClaimingStore} is shared by several brokers
 * (cluster nodes, serverless isolates), and one session is read when its client
 * connects to a broker, which claims it from its peers (JetStreamStore, SharedKvStore).
 *
 * @module
 */
import type { Properties, ProtocolLevel, QoS } from "../protocol/packet.ts";

/** An application message as kept in a queue, an in-flight window or the retained set. */
export interface StoredMessage {
  topic: string;
  /** Owned bytes (never a view into a read buffer). May be larger than 64 KiB. */
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 publish properties to forward (never topicAlias or subscriptionIdentifiers). */
  properties?: Properties;
  /** Broker-clock time (ms) after which the message must not be delivered; absent = never. */
  expiresAt?: number;
  /** Client id of the publisher, for No Local; absent for broker-originated messages. */
  origin?: string;
  /** Cluster mode: the message's sequence number in the cluster's message stream (its identity there). */
  streamSeq?: number;
}

/** One subscription of a session with its options. */
export interface StoredSubscription {
  filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  /** MQTT 5 Subscription Identifier. */
  subscriptionId?: number;
}

/** A will kept with its session, for delayed wills that must fire after a restart. */
export interface StoredWill {
  message: StoredMessage;
  /** Will Delay Interval in seconds (0 for 3.x). */
  delay: number;
}

/** Session state that is not a subscription or a message. */
export interface StoredSession {
  clientId: string;
  protocolLevel: ProtocolLevel;
  /** Seconds; 0xFFFFFFFF means the session never expires. */
  expiryInterval: number;
  /** Broker-clock time (ms) the client disconnected; absent while connected. */
  disconnectedAt?: number;
  will?: StoredWill;
  /**
   * The user name the session belongs to, null for an anonymous client; absent in
   * records written before owners were recorded (see src/broker/session_owner.ts).
   */
  username?: string | null;
}

/** An outbound message for a client: queued (packetId 0) or in flight. */
export interface OutboundEntry {
  /** Monotonic per client: delivery order. */
  seq: number;
  /** 0 while queued; the packet identifier once sent. */
  packetId: number;
  /** "publish": waiting for PUBACK/PUBREC; "pubrel": PUBREC received, waiting for PUBCOMP. */
  phase: "publish" | "pubrel";
  /** The QoS it is delivered at (already downgraded to the granted QoS). */
  qos: QoS;
  message: StoredMessage;
  /** MQTT 5 subscription identifiers of the matching subscriptions. */
  subscriptionIds?: number[];
}

/** One change to durable state. A commit applies a list of them atomically, in order. */
export type Mutation =
  | { kind: "putSession"; session: StoredSession }
  /** Removes the session and everything under it: subscriptions, outbound, inbound. */
  | { kind: "deleteSession"; clientId: string }
  | { kind: "putSubscription"; clientId: string; subscription: StoredSubscription }
  | { kind: "deleteSubscription"; clientId: string; filter: string }
  | { kind: "putOutbound"; clientId: string; entry: OutboundEntry }
  | { kind: "deleteOutbound"; clientId: string; seq: number }
  /** Inbound QoS 2: PUBREC sent for this packet id, waiting for PUBREL. */
  | { kind: "putInbound"; clientId: string; packetId: number }
  | { kind: "deleteInbound"; clientId: string; packetId: number }
  | { kind: "putRetained"; message: StoredMessage }
  | { kind: "deleteRetained"; topic: string };

/** Everything one session owns, as read back from a store. */
export interface LoadedSession {
  session: StoredSession;
  subscriptions: StoredSubscription[];
  /** Sorted by seq. */
  outbound: OutboundEntry[];
  /** Inbound QoS 2 packet ids waiting for PUBREL. */
  inbound: number[];
}

/** The whole durable state. */
export interface StoreSnapshot {
  sessions: LoadedSession[];
  retained: StoredMessage[];
}

/**
 * What every store does: take the engine's writes. A broker is given a
 * {@link SnapshotStore} or a {@link ClaimingStore}, which add how it reads back.
 *
 * @example A store that keeps nothing (every write succeeds and is forgotten)
 * ```ts
 * import type { Mutation, Store } from "../mod.ts";
 * const nowhere: Store = {
 *   durable: false,
 *   open: () => Promise.resolve(),
 *   commit: (_mutations: Mutation[]) => Promise.resolve(),
 *   close: () => Promise.resolve(),
 * };
 * await nowhere.commit([{ kind: "deleteRetained", topic: "t" }]);
 * ```
 */
export interface Store {
  /**
   * True when the store survives the process. The engine skips per-message
   * mutations (outbound, inbound) for a store that is not durable.
   */
  readonly durable: boolean;
  /** Opens the store; fails with a clear message if another process owns it. */
  open(): Promise<void>;
  /**
   * Applies the mutations atomically and in order. Resolves once they are durable.
   * Implementations may group concurrent commits into one write.
   */
  commit(mutations: Mutation[]): Promise<void>;
  /** Flushes pending commits and releases the store. */
  close(): Promise<void>;
}

/**
 * A store that belongs to one broker: at start the broker restores everything in it.
 *
 * @example
 * ```ts
 * import { MemoryStore, type SnapshotStore } from "../mod.ts";
 * const store: SnapshotStore = new MemoryStore();
 * await store.open();
 * await store.commit([{ kind: "putRetained", message: { topic: "t", payload: new Uint8Array([1]), qos: 0, retain: true } }]);
 * console.log((await store.load()).retained.length); // 1
 * ```
 */
export interface SnapshotStore extends Store {
  /** Reads the whole state: every session with what it owns, and every retained message. */
  load(): Promise<StoreSnapshot>;
}

/**
 * A store shared by several brokers (cluster nodes, serverless isolates): nothing is
 * restored from it at start. A session is read when its client connects to a broker,
 * which claims it from the peer that held it; retained messages reach each broker
 * through its peers.
 *
 * @example
 * ```ts
 * import type { ClaimingStore, LoadedSession } from "../mod.ts";
 * async function resume(store: ClaimingStore, clientId: string): Promise<LoadedSession | undefined> {
 *   return await store.loadSession(clientId);
 * }
 * console.log(typeof resume);
 * ```
 */
export interface ClaimingStore extends Store {
  /** Everything one client's session owns, or undefined when none is stored. */
  loadSession(clientId: string): Promise<LoadedSession | undefined>;
}

/** The store a broker is given: it either restores all of it at start, or claims sessions one by one. */
export type BrokerStore = SnapshotStore | ClaimingStore;
