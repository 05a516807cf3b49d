/**
 * The public `Broker`: a small façade over a private engine (src/broker/broker.ts).
 * It starts, takes hooks, serves sockets and byte streams, publishes and subscribes
 * in-process, listens on TCP, TLS and WebSocket, closes, and shows the engine through
 * a read-only admin view. The server program, the cluster and the serverless mode
 * build on it; the engine's internals stay inside src/broker.
 *
 * @module
 */
import type { AdminView } from "./broker/admin_view.ts";
import { Engine, type PublishOptions } from "./broker/broker.ts";
import type { BrokerHook } from "./broker/hooks.ts";
import type { LocalSubscribeOptions, ReceivedMessage } from "./broker/local_subscription.ts";
import type { BrokerOptions } from "./broker/options.ts";
import type { PeerLink, PeerPort } from "./broker/peers.ts";
import { defaultsOf, type ListenerConfig, listenerSchema } from "./config/schema.ts";
import type { FrameSplitterOptions } from "./protocol/frame_stream.ts";
import { ConnectionGate } from "./transport/admission.ts";
import { framingOptions, type Listener, startListener } from "./transport/listener.ts";
import type { Socket } from "./transport/socket.ts";
import { type DuplexStream, isSocket, streamSocket } from "./transport/stream_socket.ts";

/**
 * Where {@link Broker.listen} listens; omitted keys take the configuration defaults.
 *
 * @example
 * ```ts
 * import { Broker, type ListenOptions } from "./mod.ts";
 * const options: ListenOptions = { type: "ws", host: "127.0.0.1", port: 0, path: "/mqtt" };
 * const broker = new Broker();
 * console.log((await broker.listen(options)).type);
 * await broker.close();
 * ```
 */
export type ListenOptions = Partial<ListenerConfig>;

/** Reads a broker's engine; set once, by the class below. */
let engineOfBroker: (broker: Broker) => Engine;

/**
 * The broker. Serve clients with {@link Broker.listen} (TCP, TLS, WebSocket) or hand it
 * any duplex byte stream with {@link Broker.handle}; publish with {@link Broker.publish};
 * receive in-process with {@link Broker.subscribe}; observe and steer it with hooks
 * ({@link Broker.use}); look at it through {@link Broker.admin}.
 *
 * @example
 * ```ts
 * import { Broker } from "./mod.ts";
 * await using broker = new Broker();
 * await broker.start();
 * const listener = await broker.listen({ type: "tcp", host: "127.0.0.1", port: 0 });
 * console.log(`MQTT on port ${listener.port}`);
 * ```
 */
export class Broker implements AsyncDisposable {
  readonly #engine: Engine;
  readonly #listeners: Listener[] = [];
  /** Connections on all of this broker's listeners, counted from accept against `limits.maxConnections`. */
  readonly #gate: ConnectionGate;
  /** The framing limits and receive budget that all of this broker's listeners share. */
  #framing: FrameSplitterOptions | undefined;

  static {
    engineOfBroker = (broker) => broker.#engine;
  }

  /**
   * A broker with `options` (all optional: an in-memory broker with the configuration's
   * default limits). Nothing runs until {@link Broker.start}.
   *
   * @example
   * ```ts
   * import { Broker, KvStore } from "./mod.ts";
   * const dir = await Deno.makeTempDir();
   * const broker = new Broker({ store: new KvStore({ path: `${dir}/broker.kv` }), limits: { maxConnections: 100 } });
   * await broker.start();
   * await broker.close();
   * ```
   */
  constructor(options: BrokerOptions = {}) {
    const engine = new Engine(options);
    this.#engine = engine;
    this.#gate = new ConnectionGate(() => engine.limits.maxConnections);
  }

  /**
   * Opens the store and restores what it holds (sessions, subscriptions, queues and retained
   * messages of a store of its own). Call once, before serving clients.
   *
   * @example
   * ```ts
   * import { Broker, MemoryStore } from "./mod.ts";
   * const broker = new Broker({ store: new MemoryStore() });
   * await broker.start();
   * await broker.close();
   * ```
   */
  start(): Promise<void> {
    return this.#engine.start();
  }

  /**
   * Registers a hook; hooks run in registration order. A hook may refuse or rewrite, but a
   * hook that throws, rejects or takes too long can never crash the broker.
   *
   * @example
   * ```ts
   * import { Broker } from "./mod.ts";
   * const broker = new Broker().use({
   *   authorizePublish: (_client, topic) => !topic.startsWith("admin/"),
   *   onConnect: (client) => console.log(`${client.clientId} connected from ${client.remoteAddress}`),
   * });
   * await broker.close();
   * ```
   */
  use(hook: BrokerHook): this {
    this.#engine.use(hook);
    return this;
  }

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
  handle(socket: Socket | DuplexStream): void {
    this.#engine.handle(isSocket(socket) ? socket : streamSocket(socket));
  }

  /**
   * Publishes a message as the broker itself. Resolves once it is routed and, with a
   * durable store, once the resulting state is committed; rejects on an invalid topic.
   *
   * @example
   * ```ts
   * import { Broker } from "./mod.ts";
   * const broker = new Broker();
   * await broker.publish({ topic: "status/broker", payload: "up", qos: 1, retain: true });
   * await broker.close();
   * ```
   */
  publish(message: PublishOptions): Promise<void> {
    return this.#engine.publish(message);
  }

  /**
   * Subscribes in-process: the returned stream yields every matching message (also usable
   * with `for await`); cancelling it (or breaking the loop) unsubscribes.
   *
   * @example
   * ```ts
   * import { Broker } from "./mod.ts";
   * const broker = new Broker();
   * const messages = broker.subscribe("sensors/#");
   * await broker.publish({ topic: "sensors/a", payload: "1" });
   * for await (const m of messages) {
   *   console.log(m.topic);
   *   break;
   * }
   * await broker.close();
   * ```
   */
  subscribe(filter: string, options?: LocalSubscribeOptions): ReadableStream<ReceivedMessage> {
    return this.#engine.subscribe(filter, options);
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
    const engine = this.#engine;
    const listener = await startListener(config, {
      framing: this.#framing ??= framingOptions(engine),
      onSocket: (s) => engine.handle(s),
      gate: this.#gate,
      handshakeTimeoutMs: () => engine.limits.connectTimeoutMs,
    });
    this.#listeners.push(listener);
    return listener;
  }

  /**
   * Tells the broker that its authorizer's rules changed (an ACL file re-read): cached
   * delivery decisions are forgotten, so that existing subscriptions and queued messages
   * follow the new rules from the next message on.
   *
   * @example
   * ```ts
   * import { Broker } from "./mod.ts";
   * const broker = new Broker();
   * broker.accessChanged();
   * ```
   */
  accessChanged(): void {
    this.#engine.accessChanged();
  }

  /**
   * What the broker holds and has counted, and the administrative actions (the admin API,
   * the metrics and `$SYS` read it).
   *
   * @example
   * ```ts
   * import { Broker } from "./mod.ts";
   * const broker = new Broker();
   * console.log(broker.admin.clients().length, broker.admin.pendingMessages().queued);
   * await broker.close();
   * ```
   */
  get admin(): AdminView {
    return this.#engine.admin;
  }

  /**
   * Graceful shutdown: stops the listeners, closes every client (v5: DISCONNECT 0x8B; wills
   * are published as for any server-side close), waits for pending commits, closes the store.
   *
   * @example
   * ```ts
   * import { Broker } from "./mod.ts";
   * const broker = new Broker();
   * await broker.close();
   * ```
   */
  async close(): Promise<void> {
    await Promise.all([...this.#listeners.splice(0).map((l) => l.close()), this.#engine.close()]);
  }

  /**
   * {@link Broker.close}, for `await using`.
   *
   * @example
   * ```ts
   * import { Broker } from "./mod.ts";
   * {
   *   await using broker = new Broker();
   *   await broker.start();
   * } // closed here
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * The engine inside a broker, for the server program (reloads, bridges, monitoring) and
 * white-box tests. Not part of the package's API.
 */
export function engineOf(broker: Broker): Engine {
  return engineOfBroker(broker);
}

/** The one seam for a broker's peers (src/broker/peers.ts): the port they call, and where they attach. */
export interface PeerSeam {
  /** What peers call into. */
  readonly port: PeerPort;
  /** Links the broker to its peers (once, before clients connect). */
  attach(link: PeerLink): void;
}

/** The peer seam of a broker: what the cluster and the serverless bridge get, and nothing else of it. */
export function peersOf(broker: Broker): PeerSeam {
  const engine = engineOf(broker);
  return { port: engine.peerPort, attach: (link) => engine.attachPeers(link) };
}
