/**
 * Engine options with their defaults. Every limit has a safe default so that
 * memory stays bounded even when the embedder sets nothing.
 *
 * @module
 */
import type { Store } from "../persistence/store.ts";
import type { Clock } from "./clock.ts";
import type { Authenticator, Authorizer } from "./security.ts";
import type { EnhancedAuthenticator } from "./enhanced_auth.ts";
import type { ForeignSessionPolicy } from "./session_owner.ts";

/** How shared-subscription messages are spread over a group's members. */
export type SharedStrategy = "round_robin" | "random" | "sticky";

/** Protocol features the broker advertises in CONNACK (v5) and enforces for every level. */
export interface MqttOptions {
  /** Seconds. Clients asking for more, or for 0, are given this value (v5: Server Keep Alive). */
  maxKeepAlive: number;
  /** How many QoS 1/2 PUBLISH a client may have unacknowledged towards the broker. */
  receiveMaximum: number;
  /** How many inbound topic aliases a v5 client may use. */
  topicAliasMaximum: number;
  /** Largest packet accepted, in bytes (whole packet). */
  maxPacketSize: number;
  maxQoS: 0 | 1 | 2;
  retainAvailable: boolean;
  wildcardSubscriptions: boolean;
  sharedSubscriptions: boolean;
  subscriptionIdentifiers: boolean;
  sharedStrategy: SharedStrategy;
}

/** Limits against abuse and for bounded memory. 0 means "unlimited" where noted. */
export interface LimitOptions {
  /** Global connection limit (0 = unlimited). */
  maxConnections: number;
  /** A socket that sends no CONNECT within this time is closed. */
  connectTimeoutMs: number;
  /** Outbound QoS 1/2 messages in flight per client (further capped by the client's Receive Maximum). */
  maxInflight: number;
  /** Messages queued per client beyond the in-flight window. */
  maxQueuedMessages: number;
  /** Bytes queued per client: payloads and their encoded properties. */
  maxQueuedBytes: number;
  /** Queue QoS 0 messages for offline persistent sessions. */
  queueQos0: boolean;
  /** Subscriptions per client (0 = unlimited). */
  maxSubscriptions: number;
  /** Bytes of a topic name or filter. */
  maxTopicLength: number;
  /** Levels of a topic name or filter. */
  maxTopicLevels: number;
  /** Inbound PUBLISH per second per client (0 = unlimited). */
  messageRate: number;
  /** Bytes waiting to be written to one client before QoS 0 deliveries to it are dropped. */
  maxOutboundBuffer: number;
  /** Bytes of the first packet of a connection (CONNECT), whole packet: sent before anyone is authenticated. */
  maxConnectSize: number;
  /**
   * Bytes that all connections together may hold in packets still being received (listeners
   * started by the broker share one budget); no packet may be larger either.
   */
  maxPartialPacketBytes: number;
  /** v5 User Properties in one property block (a PUBLISH over it is refused with 0x97). */
  maxUserProperties: number;
  /** Bytes of one v5 property block (its Property Length). */
  maxPropertyBytes: number;
}

/** Everything a {@link Broker} can be given. All fields are optional. */
export interface BrokerOptions {
  store?: Store;
  clock?: Clock;
  /** "durable": acknowledge after the store commit; "relaxed": acknowledge at once. */
  durability?: "durable" | "relaxed";
  mqtt?: Partial<MqttOptions>;
  limits?: Partial<LimitOptions>;
  authenticator?: Authenticator;
  authorizer?: Authorizer;
  /** MQTT 5 enhanced authentication methods (AUTH exchange), e.g. SCRAM-SHA-256. */
  enhancedAuth?: EnhancedAuthenticator[];
  /** Reported as $SYS/broker/version. */
  version?: string;
  /** A decision hook (authenticate/authorize) taking longer than this counts as a denial (default 5000 ms). */
  hookTimeoutMs?: number;
  /**
   * A CONNECT whose client id names an offline session of another user: "refuse" it
   * (default; CONNACK 0x85 / 3.1.1 code 2), or "discard" that session and start a fresh
   * one. A session whose client is connected is never handed to another user.
   */
  foreignSession?: ForeignSessionPolicy;
}

export const defaultMqttOptions: MqttOptions = {
  maxKeepAlive: 65535,
  receiveMaximum: 65535,
  topicAliasMaximum: 64,
  maxPacketSize: 268_435_460,
  maxQoS: 2,
  retainAvailable: true,
  wildcardSubscriptions: true,
  sharedSubscriptions: true,
  subscriptionIdentifiers: true,
  sharedStrategy: "round_robin",
};

export const defaultLimitOptions: LimitOptions = {
  maxConnections: 10_000,
  connectTimeoutMs: 10_000,
  maxInflight: 64,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 16 * 1024 * 1024,
  queueQos0: false,
  maxSubscriptions: 1000,
  maxTopicLength: 65535,
  maxTopicLevels: 128,
  messageRate: 0,
  maxOutboundBuffer: 4 * 1024 * 1024,
  maxConnectSize: 64 * 1024,
  maxPartialPacketBytes: 64 * 1024 * 1024,
  maxUserProperties: 128,
  maxPropertyBytes: 64 * 1024,
};
