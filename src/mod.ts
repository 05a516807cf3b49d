/**
 * deno-mqtt: an MQTT 3.1 / 3.1.1 / 5.0 broker for Deno, usable as a library.
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

export { Broker, type PublishOptions } from "./broker/broker.ts";
export type { BrokerOptions, LimitOptions, MqttOptions, SharedStrategy } from "./broker/options.ts";
export { type Clock, ManualClock, systemClock } from "./broker/clock.ts";
export type { BrokerHook, HookClient, HookMessage } from "./broker/hooks.ts";
export type { Access, Authenticator, Authorizer, AuthResult, ConnectInfo } from "./broker/security.ts";
export type { LocalSubscribeOptions, ReceivedMessage } from "./broker/local_subscription.ts";
export type { DropReason } from "./broker/stats.ts";
export type { Socket } from "./transport/socket.ts";
export type {
  Mutation,
  OutboundEntry,
  Store,
  StoredMessage,
  StoredSession,
  StoredSubscription,
  StoreSnapshot,
} from "./persistence/store.ts";
export { PacketType, type Properties, ProtocolLevel, type QoS, Reason } from "./protocol/packet.ts";
export { ProtocolError } from "./protocol/errors.ts";
