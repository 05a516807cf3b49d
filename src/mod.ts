/**
 * deno-mqtt: an MQTT 3.1 / 3.1.1 / 5.0 broker for Deno, usable as a library. This
 * entry is the engine, its stores and its types; it loads neither the YAML parser
 * nor the NATS client. The broker program from a configuration file is
 * `@deno-mqtt/broker/server`, cluster mode `@deno-mqtt/broker/cluster`, the
 * Deno Deploy mode `@deno-mqtt/broker/serverless`.
 *
 * @example Embed a broker and publish to an in-process subscriber
 * ```ts
 * import { Broker } from "./mod.ts";
 *
 * const broker = new Broker();
 * await broker.start();
 * const messages = broker.subscribe("sensors/+/temp");
 * await broker.publish({ topic: "sensors/kitchen/temp", payload: "21.5" });
 * for await (const message of messages) {
 *   console.log(message.topic, new TextDecoder().decode(message.payload));
 *   break; // cancelling the iteration unsubscribes
 * }
 * await broker.close();
 * ```
 *
 * @module
 */

export { Broker, type ListenOptions } from "./public_broker.ts";
export type { PublishOptions } from "./broker/broker.ts";
export type {
  AdminView,
  BrokerSizes,
  ClientInfo,
  PendingMessages,
  SessionInfo,
  SubscriptionInfo,
} from "./broker/admin_view.ts";
export type { PeerStatus } from "./broker/peers.ts";
export type { ForeignSessionPolicy } from "./broker/session_owner.ts";
export { type DuplexStream, streamSocket, type StreamSocketOptions } from "./transport/stream_socket.ts";
export type { Listener } from "./transport/listener.ts";
export type { ListenerStats } from "./transport/admission.ts";
export {
  type BrokerConfig,
  configSchema,
  type Field,
  type Infer,
  type InferSection,
  type ListenerConfig,
  listenerSchema,
  type LogLevelName,
  type ObjectField,
} from "./config/schema.ts";
export { MemoryStore } from "./persistence/memory_store.ts";
export { KvStore, type KvStoreOptions } from "./persistence/kv_store.ts";
export { configureLogging, type LogConfig } from "./log/logging.ts";
export type { BrokerOptions, LimitOptions, MqttOptions, SharedStrategy } from "./broker/options.ts";
export { type Clock, ManualClock, systemClock, type TimerHandle } from "./broker/clock.ts";
export type { BrokerHook, HookClient, HookMessage } from "./broker/hooks.ts";
export type {
  Access,
  Authenticator,
  Authorizer,
  AuthResult,
  ConnectedClient,
  ConnectInfo,
} from "./broker/security.ts";
export type { AuthConversation, EnhancedAuthenticator } from "./broker/enhanced_auth.ts";
export type { LocalSubscribeOptions, ReceivedMessage } from "./broker/local_subscription.ts";
export type { BrokerCounters, DropReason } from "./broker/stats.ts";
export type { FrameSource, Socket } from "./transport/socket.ts";
export type { EncodedPublish } from "./protocol/publish.ts";
export type {
  BrokerStore,
  ClaimingStore,
  LoadedSession,
  Mutation,
  OutboundEntry,
  SnapshotStore,
  Store,
  StoredMessage,
  StoredSession,
  StoredSubscription,
  StoredWill,
  StoreSnapshot,
} from "./persistence/store.ts";
export {
  type Frame,
  PacketType,
  type Properties,
  ProtocolLevel,
  type QoS,
  Reason,
} from "./protocol/packet.ts";
export { ProtocolError } from "./protocol/errors.ts";
