/**
 * Maps the validated configuration onto the engine's options.
 *
 * @module
 */
import type { BrokerOptions, LimitOptions, MqttOptions } from "../broker/options.ts";
import type { BrokerConfig } from "./schema.ts";

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
    maxConnectSize: c.max_connect_size,
    maxPartialPacketBytes: c.max_partial_packet_bytes,
    maxUserProperties: c.max_user_properties,
    maxPropertyBytes: c.max_property_bytes,
  };
}

/** Everything but the store, clock and security objects, which the server builds. */
export function brokerOptionsFrom(config: BrokerConfig): BrokerOptions {
  return {
    durability: config.persistence.durability,
    foreignSession: config.auth.foreign_session,
    mqtt: mqttOptions(config.mqtt),
    limits: limitOptions(config.limits),
  };
}
