/**
 * The persistence interface the broker engine writes through. The engine keeps
 * its working state in memory; a Store is the durable mirror it is rebuilt from
 * after a restart. Writes are expressed as mutations so that an implementation can
 * group many of them into one atomic commit.
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

/** Everything one session owns, as loaded at start. */
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

/** A durable (or in-memory) home for broker state. */
export interface Store {
  /**
   * True when the store survives the process. The engine skips per-message
   * mutations (outbound, inbound) for a store that is not durable.
   */
  readonly durable: boolean;
  /** Opens the store; fails with a clear message if another process owns it. */
  open(): Promise<void>;
  /** Reads the whole state, for recovery at start. */
  load(): Promise<StoreSnapshot>;
  /**
   * Applies the mutations atomically and in order. Resolves once they are durable.
   * Implementations may group concurrent commits into one write.
   */
  commit(mutations: Mutation[]): Promise<void>;
  /** Flushes pending commits and releases the store. */
  close(): Promise<void>;
}
