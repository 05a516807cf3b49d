/**
 * Engine options with their defaults. Every limit has a safe default so that
 * memory stays bounded even when the embedder sets nothing; the defaults are the
 * configuration schema's (src/config/schema.ts), so a broker embedded without options
 * and one started from an empty configuration file behave alike.
 *
 * @module
 */
import { type BrokerConfig, configSchema, defaultsOf } from "../config/schema.ts";
import type { BrokerStore } from "../persistence/store.ts";
import type { Clock } from "./clock.ts";
import type { Authenticator, Authorizer } from "./security.ts";
import type { EnhancedAuthenticator } from "./enhanced_auth.ts";
import type { ForeignSessionPolicy } from "./session_owner.ts";

/**
 * How shared-subscription messages are spread over a group's members.
 *
 * @example
 * ```ts
 * import { Broker, type SharedStrategy } from "../mod.ts";
 * const sharedStrategy: SharedStrategy = "round_robin";
 * const broker = new Broker({ mqtt: { sharedStrategy } });
 * await broker.close();
 * ```
 */
export type SharedStrategy = "round_robin" | "random" | "sticky";

/**
 * Protocol features the broker advertises in CONNACK (v5) and enforces for every level.
 *
 * @example
 * ```ts
 * import { Broker, type MqttOptions } from "../mod.ts";
 * const mqtt: Partial<MqttOptions> = { maxQoS: 1, retainAvailable: false };
 * const broker = new Broker({ mqtt });
 * await broker.close();
 * ```
 */
export interface MqttOptions {
  /** Seconds. Clients asking for more, or for 0, are given this value (v5: Server Keep Alive). */
  maxKeepAlive: number;
  /** How many QoS 1/2 PUBLISH a client may have unacknowledged towards the broker. */
  receiveMaximum: number;
  /** How many inbound topic aliases a v5 client may use. */
  topicAliasMaximum: number;
  /** Largest packet accepted, in bytes (whole packet). */
  maxPacketSize: number;
  /** Highest QoS accepted; higher requests are granted this (v5: Maximum QoS). */
  maxQoS: 0 | 1 | 2;
  /** Whether retained messages are kept (v5: Retain Available). */
  retainAvailable: boolean;
  /** Whether filters may hold + and # (v5: Wildcard Subscription Available). */
  wildcardSubscriptions: boolean;
  /** Whether `$share/<group>/<filter>` is accepted (v5: Shared Subscription Available). */
  sharedSubscriptions: boolean;
  /** Whether SUBSCRIBE may carry a Subscription Identifier (v5: Subscription Identifier Available). */
  subscriptionIdentifiers: boolean;
  /** How a share group's messages are spread over its members. */
  sharedStrategy: SharedStrategy;
}

/**
 * Limits against abuse and for bounded memory. 0 means "unlimited" where noted.
 *
 * @example
 * ```ts
 * import { Broker, type LimitOptions } from "../mod.ts";
 * const limits: Partial<LimitOptions> = { maxConnections: 10_000, maxQueuedMessages: 1000 };
 * const broker = new Broker({ limits });
 * await broker.close();
 * ```
 */
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
  /**
   * A publisher reads its next batch only once a subscriber queue its last batch pushed past
   * this many messages is down to half of it (pacing.ts; 0 = never waits).
   */
  pacePublishersAt: number;
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

/**
 * Everything a {@link Broker} can be given. All fields are optional.
 *
 * @example
 * ```ts
 * import { Broker, type BrokerOptions, MemoryStore } from "../mod.ts";
 * const options: BrokerOptions = { store: new MemoryStore(), durability: "relaxed", limits: { maxInflight: 32 } };
 * const broker = new Broker(options);
 * await broker.close();
 * ```
 */
export interface BrokerOptions {
  /** Where sessions and retained messages persist (default: none, state is lost on close). */
  store?: BrokerStore;
  /** The time source (default: the system clock); tests pass a ManualClock. */
  clock?: Clock;
  /** "durable": acknowledge after the store commit; "relaxed": acknowledge at once. */
  durability?: "durable" | "relaxed";
  /** Protocol features; unset ones take the configuration schema's defaults. */
  mqtt?: Partial<MqttOptions>;
  /** Limits; unset ones take the configuration schema's defaults. */
  limits?: Partial<LimitOptions>;
  /** Decides who may connect (default: everyone). */
  authenticator?: Authenticator;
  /** Decides who may publish and subscribe where (default: everyone, everywhere). */
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

/** The engine's protocol options from the configuration's `mqtt` section. */
export function mqttOptions(c: BrokerConfig["mqtt"]): MqttOptions {
  return {
    maxKeepAlive: c.max_keepalive,
    receiveMaximum: c.receive_maximum,
    topicAliasMaximum: c.topic_alias_maximum,
    maxPacketSize: c.max_packet_size,
    maxQoS: c.max_qos,
    retainAvailable: c.retain_available,
    wildcardSubscriptions: c.wildcard_subscriptions,
    sharedSubscriptions: c.shared_subscriptions,
    subscriptionIdentifiers: c.subscription_identifiers,
    sharedStrategy: c.shared_subscription_strategy,
  };
}

/** The engine's limits from the configuration's `limits` section. */
export function limitOptions(c: BrokerConfig["limits"]): LimitOptions {
  return {
    maxConnections: c.max_connections,
    connectTimeoutMs: c.connect_timeout_ms,
    maxInflight: c.max_inflight,
    maxQueuedMessages: c.max_queued_messages,
    maxQueuedBytes: c.max_queued_bytes,
    queueQos0: c.queue_qos0,
    maxSubscriptions: c.max_subscriptions,
    maxTopicLength: c.max_topic_length,
    maxTopicLevels: c.max_topic_levels,
    messageRate: c.message_rate,
    maxOutboundBuffer: c.max_outbound_buffer,
    pacePublishersAt: c.pace_publishers_at,
    maxConnectSize: c.max_connect_size,
    maxPartialPacketBytes: c.max_partial_packet_bytes,
    maxUserProperties: c.max_user_properties,
    maxPropertyBytes: c.max_property_bytes,
  };
}

/** What an embedder gets without options: the schema's defaults, as a configuration file would. */
export const defaultMqttOptions: MqttOptions = mqttOptions(defaultsOf(configSchema.fields.mqtt));

/** The schema's `limits` defaults: every limit is bounded unless the embedder lifts it. */
export const defaultLimitOptions: LimitOptions = limitOptions(defaultsOf(configSchema.fields.limits));
