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

/**
 * An application message as kept in a queue, an in-flight window or the retained set.
 *
 * @example
 * ```ts
 * import type { StoredMessage } from "../mod.ts";
 * const message: StoredMessage = { topic: "a/b", payload: new TextEncoder().encode("hi"), qos: 1, retain: false };
 * console.log(message.topic);
 * ```
 */
export interface StoredMessage {
  /** The topic name it was published to. */
  topic: string;
  /** Owned bytes (never a view into a read buffer). May be larger than 64 KiB. */
  payload: Uint8Array;
  /** The QoS it was published with. */
  qos: QoS;
  /** The RETAIN flag it was published with. */
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

/**
 * One subscription of a session with its options.
 *
 * @example
 * ```ts
 * import type { StoredSubscription } from "../mod.ts";
 * const sub: StoredSubscription = { filter: "a/#", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 };
 * console.log(sub.filter);
 * ```
 */
export interface StoredSubscription {
  /** The topic filter as the client gave it (`$share/<group>/<filter>` for a shared one). */
  filter: string;
  /** The QoS granted. */
  qos: QoS;
  /** MQTT 5 No Local: the client's own messages are not sent back to it. */
  noLocal: boolean;
  /** MQTT 5 Retain As Published: the RETAIN flag is kept on forwarded messages. */
  retainAsPublished: boolean;
  /** MQTT 5 Retain Handling: 0 send retained messages, 1 only on a new subscription, 2 never. */
  retainHandling: 0 | 1 | 2;
  /** MQTT 5 Subscription Identifier. */
  subscriptionId?: number;
}

/**
 * A will kept with its session, for delayed wills that must fire after a restart.
 *
 * @example
 * ```ts
 * import type { StoredWill } from "../mod.ts";
 * const will: StoredWill = { delay: 30, message: { topic: "gone", payload: new Uint8Array(), qos: 0, retain: false } };
 * console.log(will.delay);
 * ```
 */
export interface StoredWill {
  /** The will message. */
  message: StoredMessage;
  /** Will Delay Interval in seconds (0 for 3.x). */
  delay: number;
}

/**
 * Session state that is not a subscription or a message.
 *
 * @example
 * ```ts
 * import type { StoredSession } from "../mod.ts";
 * const session: StoredSession = { clientId: "c1", protocolLevel: 5, expiryInterval: 3600, username: "alice" };
 * console.log(session.clientId);
 * ```
 */
export interface StoredSession {
  /** The client identifier. */
  clientId: string;
  /** The protocol level its client connected with last. */
  protocolLevel: ProtocolLevel;
  /** Seconds; 0xFFFFFFFF means the session never expires. */
  expiryInterval: number;
  /** Broker-clock time (ms) the client disconnected; absent while connected. */
  disconnectedAt?: number;
  /** The will still to publish, if any. */
  will?: StoredWill;
  /**
   * The user name the session belongs to, null for an anonymous client; absent in
   * records written before owners were recorded (see src/broker/session_owner.ts).
   */
  username?: string | null;
}

/**
 * An outbound message for a client: queued (packetId 0) or in flight.
 *
 * @example
 * ```ts
 * import type { OutboundEntry } from "../mod.ts";
 * const queued: OutboundEntry = {
 *   seq: 1,
 *   packetId: 0,
 *   phase: "publish",
 *   qos: 1,
 *   message: { topic: "t", payload: new Uint8Array([1]), qos: 1, retain: false },
 * };
 * console.log(queued.seq);
 * ```
 */
export interface OutboundEntry {
  /** Monotonic per client: delivery order. */
  seq: number;
  /** 0 while queued; the packet identifier once sent. */
  packetId: number;
  /** "publish": waiting for PUBACK/PUBREC; "pubrel": PUBREC received, waiting for PUBCOMP. */
  phase: "publish" | "pubrel";
  /** The QoS it is delivered at (already downgraded to the granted QoS). */
  qos: QoS;
  /** The message. */
  message: StoredMessage;
  /** MQTT 5 subscription identifiers of the matching subscriptions. */
  subscriptionIds?: number[];
}

/**
 * One change to durable state. A commit applies a list of them atomically, in order.
 * `deleteSession` removes the session and everything under it (subscriptions, outbound,
 * inbound); `putInbound` records a QoS 2 packet id whose PUBREC was sent, until PUBREL.
 *
 * @example
 * ```ts
 * import { MemoryStore, type Mutation } from "../mod.ts";
 * const mutations: Mutation[] = [
 *   { kind: "putSession", session: { clientId: "c", protocolLevel: 4, expiryInterval: 60 } },
 *   { kind: "deleteRetained", topic: "old" },
 * ];
 * await new MemoryStore().commit(mutations);
 * ```
 */
export type Mutation =
  | { kind: "putSession"; session: StoredSession }
  | { kind: "deleteSession"; clientId: string }
  | { kind: "putSubscription"; clientId: string; subscription: StoredSubscription }
  | { kind: "deleteSubscription"; clientId: string; filter: string }
  | { kind: "putOutbound"; clientId: string; entry: OutboundEntry }
  | { kind: "deleteOutbound"; clientId: string; seq: number }
  | { kind: "putInbound"; clientId: string; packetId: number }
  | { kind: "deleteInbound"; clientId: string; packetId: number }
  | { kind: "putRetained"; message: StoredMessage }
  | { kind: "deleteRetained"; topic: string };

/**
 * Everything one session owns, as read back from a store.
 *
 * @example
 * ```ts
 * import type { LoadedSession } from "../mod.ts";
 * const empty: LoadedSession = {
 *   session: { clientId: "c", protocolLevel: 5, expiryInterval: 60 },
 *   subscriptions: [],
 *   outbound: [],
 *   inbound: [],
 * };
 * console.log(empty.session.clientId);
 * ```
 */
export interface LoadedSession {
  /** The session record. */
  session: StoredSession;
  /** Its subscriptions. */
  subscriptions: StoredSubscription[];
  /** Queued and in-flight messages, sorted by seq. */
  outbound: OutboundEntry[];
  /** Inbound QoS 2 packet ids waiting for PUBREL. */
  inbound: number[];
}

/**
 * The whole durable state of a {@link SnapshotStore}.
 *
 * @example
 * ```ts
 * import { MemoryStore, type StoreSnapshot } from "../mod.ts";
 * const snapshot: StoreSnapshot = await new MemoryStore().load();
 * console.log(snapshot.sessions.length, snapshot.retained.length);
 * ```
 */
export interface StoreSnapshot {
  /** Every session with what it owns. */
  sessions: LoadedSession[];
  /** Every retained message. */
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

/**
 * The store a broker is given: it either restores all of it at start, or claims sessions one by one.
 *
 * @example
 * ```ts
 * import { Broker, type BrokerStore, MemoryStore } from "../mod.ts";
 * const store: BrokerStore = new MemoryStore();
 * const broker = new Broker({ store });
 * await broker.close();
 * ```
 */
export type BrokerStore = SnapshotStore | ClaimingStore;
