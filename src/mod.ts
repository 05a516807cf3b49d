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

import { Broker as Engine } from "./broker/broker.ts";
import { defaultsOf, type ListenerConfig, listenerSchema } from "./config/schema.ts";
import { framingOptions, type Listener, startListener } from "./transport/listener.ts";
import type { FrameSplitterOptions } from "./protocol/frame_stream.ts";
import { ConnectionGate } from "./transport/admission.ts";
import type { Socket } from "./transport/socket.ts";
import { type DuplexStream, isSocket, streamSocket } from "./transport/stream_socket.ts";

/** Where {@link Broker.listen} listens; omitted keys take the configuration defaults. */
export type ListenOptions = Partial<ListenerConfig>;

/**
 * The broker. Serve clients with {@link Broker.listen} (TCP, TLS, WebSocket) or hand it
 * any duplex byte stream with {@link Broker.handle}; publish with {@link Broker.publish};
 * receive in-process with {@link Broker.subscribe}.
 *
 * @example
 * ```ts
 * import { Broker } from "./mod.ts";
 * const broker = new Broker();
 * await broker.start();
 * const listener = await broker.listen({ type: "tcp", host: "127.0.0.1", port: 0 });
 * console.log(`MQTT on port ${listener.port}`);
 * await broker.close();
 * ```
 */
export class Broker extends Engine {
  readonly #listeners: Listener[] = [];
  /** Connections on all of this broker's listeners, counted from accept against `limits.maxConnections`. */
  readonly #gate = new ConnectionGate(() => this.limits.maxConnections);
  /** The framing limits and receive budget that all of this broker's listeners share. */
  #framing: FrameSplitterOptions | undefined;

  /**
   * Serves one client over a Socket or any `{ readable, writable }` byte stream pair.
   *
   * @example
   * ```ts
   * import { Broker } from "./mod.ts";
   * const broker = new Broker();
   * const a = new TransformStream<Uint8Array, Uint8Array>();
   * const b = new TransformStream<Uint8Array, Uint8Array>();
   * broker.handle({ readable: a.readable, writable: b.writable }); // the client writes to a, reads b
   * await broker.close();
   * ```
   */
  override handle(socket: Socket | DuplexStream): void {
    super.handle(isSocket(socket) ? socket : streamSocket(socket));
  }

  /**
   * Starts a listener; it is closed by {@link Broker.close}.
   *
   * @example
   * ```ts
   * import { Broker } from "./mod.ts";
   * const broker = new Broker();
   * const ws = await broker.listen({ type: "ws", host: "127.0.0.1", port: 0, path: "/mqtt" });
   * console.log(ws.name);
   * await broker.close();
   * ```
   */
  async listen(options: ListenOptions = {}): Promise<Listener> {
    const config: ListenerConfig = { ...defaultsOf(listenerSchema), ...options };
    const listener = await startListener(config, {
      framing: this.#framing ??= framingOptions(this),
      onSocket: (s) => this.handle(s),
      gate: this.#gate,
      handshakeTimeoutMs: () => this.limits.connectTimeoutMs,
    });
    this.#listeners.push(listener);
    return listener;
  }

  /**
   * Stops the listeners, then closes the engine gracefully.
   *
   * @example
   * ```ts
   * import { Broker } from "./mod.ts";
   * const broker = new Broker();
   * await broker.close();
   * ```
   */
  override async close(): Promise<void> {
    await Promise.all([...this.#listeners.splice(0).map((l) => l.close()), super.close()]);
  }
}

export type { PublishOptions } from "./broker/broker.ts";
export { type DuplexStream, streamSocket } from "./transport/stream_socket.ts";
export type { Listener } from "./transport/listener.ts";
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
export { type Clock, ManualClock, systemClock } from "./broker/clock.ts";
export type { BrokerHook, HookClient, HookMessage } from "./broker/hooks.ts";
export type { Access, Authenticator, Authorizer, AuthResult, ConnectInfo } from "./broker/security.ts";
export type { AuthConversation, EnhancedAuthenticator } from "./broker/enhanced_auth.ts";
export type { LocalSubscribeOptions, ReceivedMessage } from "./broker/local_subscription.ts";
export type { DropReason } from "./broker/stats.ts";
export type { Socket } from "./transport/socket.ts";
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
export { PacketType, type Properties, ProtocolLevel, type QoS, Reason } from "./protocol/packet.ts";
export { ProtocolError } from "./protocol/errors.ts";
