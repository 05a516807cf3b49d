/**
 * The broker engine: owns sessions, the subscription tree and retained
 * messages; serves any {@link Socket}; publishes directly; recovers from the
 * store at start. No sockets and no `Deno.*` here: the clock and the store are
 * injected. The public `Broker` (src/public_broker.ts) holds one, privately;
 * packet handlers see it as a {@link BrokerContext}.
 *
 * @module
 */
import { KeepAliveSweeper } from "./keep_alive.ts";
import { getLogger, type Logger } from "@logtape/logtape";
import { validateTopicName } from "../protocol/topic.ts";
import type { Properties, QoS } from "../protocol/packet.ts";
import type { BrokerStore, StoredMessage } from "../persistence/store.ts";
import type { Socket } from "../transport/socket.ts";
import { type Clock, systemClock } from "./clock.ts";
import { type CommitBatch, CommitChain } from "./commit_batch.ts";
import { Connection } from "./connection.ts";
import type { BrokerContext } from "./context.ts";
import { type BrokerHook, type HookClient, hookMessage, Hooks } from "./hooks.ts";
import {
  type BrokerOptions,
  defaultLimitOptions,
  defaultMqttOptions,
  type LimitOptions,
  type MqttOptions,
} from "./options.ts";
import { type LocalSubscribeOptions, type ReceivedMessage, subscribeLocal } from "./local_subscription.ts";
import { stampExpiry } from "./delivery.ts";
import { restoreState } from "./recovery.ts";
import { type AdminView, EngineAdmin } from "./admin_view.ts";
import { EnginePeerPort } from "./peer_port.ts";
import type { PeerLink, PeerPort } from "./peers.ts";
import { RetainedIndex } from "./retained.ts";
import { ReadAccess } from "./read_access.ts";
import { Router } from "./router.ts";
import type { Access, AuthResult, ConnectInfo } from "./security.ts";
import type { AuthorizedClient } from "./context.ts";
import type { EnhancedAuthenticator } from "./enhanced_auth.ts";
import type { Session, Subscription } from "./session.ts";
import { SessionLifecycle } from "./session_lifecycle.ts";
import type { ForeignSessionPolicy } from "./session_owner.ts";
import { BrokerStats } from "./stats.ts";
import { TopicTree } from "./topic_tree.ts";

/**
 * A message the broker publishes itself ({@link Broker.publish}).
 *
 * @example
 * ```ts
 * import { Broker, type PublishOptions } from "../mod.ts";
 * const message: PublishOptions = { topic: "alerts/door", payload: "open", qos: 1, retain: true };
 * const broker = new Broker();
 * await broker.publish(message);
 * await broker.close();
 * ```
 */
export interface PublishOptions {
  /** The topic name (no wildcards). */
  topic: string;
  /** Bytes (copied), or text sent as UTF-8. */
  payload: Uint8Array | string;
  /** Default 0. */
  qos?: QoS;
  /** Kept as the topic's retained message (an empty payload removes it). Default false. */
  retain?: boolean;
  /** MQTT 5 properties (a Message Expiry Interval starts counting now). */
  properties?: Properties;
}

const encoder = new TextEncoder();

export class Engine implements BrokerContext {
  readonly clock: Clock;
  readonly stats: BrokerStats;
  readonly mqtt: MqttOptions;
  readonly limits: LimitOptions;
  readonly store: BrokerStore | undefined;
  readonly persistMessages: boolean;
  readonly sessions: Map<string, Session> = new Map();
  readonly tree: TopicTree<Subscription> = new TopicTree();
  readonly retained: RetainedIndex<StoredMessage> = new RetainedIndex();
  readonly router: Router;
  readonly log: Logger = getLogger(["mqtt", "broker"]);
  readonly hooks: Hooks;
  readonly access: ReadAccess;
  readonly keepAlive: KeepAliveSweeper;
  readonly version: string;
  /** What a CONNECT gets when its client id names an offline session of another user (reloadable). */
  foreignSession: ForeignSessionPolicy;
  readonly #options: BrokerOptions;
  readonly #connections = new Set<Connection>();
  /** A connection stopped reading (one function for all of them). */
  readonly #connectionEnded = (conn: Connection): void => void this.#connections.delete(conn);
  readonly #chain: CommitChain;
  readonly #lifecycle: SessionLifecycle;
  #peers: PeerLink | undefined;
  #closing = false;
  #started = false;
  #connected = 0;

  constructor(options: BrokerOptions = {}) {
    this.#options = options;
    this.clock = options.clock ?? systemClock;
    this.hooks = new Hooks(getLogger(["mqtt", "hooks"]), this.clock, options.hookTimeoutMs);
    this.keepAlive = new KeepAliveSweeper(this.clock);
    this.stats = new BrokerStats(this.clock.now());
    this.mqtt = { ...defaultMqttOptions, ...options.mqtt };
    this.limits = { ...defaultLimitOptions, ...options.limits };
    // No packet can be larger than what all partial packets together may hold: that is the
    // real maximum, so it is the one a v5 CONNACK advertises (clients keep to that figure).
    this.mqtt.maxPacketSize = Math.min(this.mqtt.maxPacketSize, this.limits.maxPartialPacketBytes);
    this.store = options.store;
    this.persistMessages = options.store?.durable ?? false;
    this.version = options.version ?? "0.1.0";
    this.access = new ReadAccess(options.authorizer);
    this.foreignSession = options.foreignSession ?? "refuse";
    this.router = new Router(this, this.tree, this.mqtt.sharedStrategy);
    this.#chain = new CommitChain(this.store, {
      commitFailed: (err) => this.log.error("Store commit failed: {error}", { error: String(err) }),
      commitTook: (ms) => this.stats.observeCommit(ms),
    }, { relaxed: options.durability === "relaxed" });
    this.#lifecycle = new SessionLifecycle(this, this.#chain);
    this.peerPort = new EnginePeerPort(this, this.#chain, this.#lifecycle);
    this.admin = new EngineAdmin({
      engine: this,
      version: this.version,
      connections: this.#connections,
      chain: this.#chain,
      lifecycle: this.#lifecycle,
    });
  }

  get closing(): boolean {
    return this.#closing;
  }

  get connectedCount(): number {
    return this.#connected;
  }

  /**
   * Opens the store and, when it is this broker's own (a SnapshotStore), restores its
   * sessions, subscriptions, queues and retained messages. A store shared with peers (a
   * ClaimingStore) restores nothing: its sessions are claimed on CONNECT.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const store = this.store;
    if (store === undefined) return;
    await store.open();
    if (!("load" in store)) return;
    const restored = restoreState(this, await store.load());
    this.log.info("Restored {sessions} sessions and {retained} retained messages", restored);
    for (const session of this.sessions.values()) this.#lifecycle.resumeAfterRestart(session);
  }

  /** Registers a hook; hooks run in registration order. */
  use(hook: BrokerHook): this {
    this.hooks.add(hook);
    return this;
  }

  /** Serves one client connection until it closes. */
  handle(socket: Socket): void {
    if (
      this.#closing ||
      // The broker's own connections (bridges) are not turned away by the client limit.
      (this.limits.maxConnections > 0 && !socket.internal &&
        this.#connections.size >= this.limits.maxConnections)
    ) {
      this.stats.connectRefused++;
      socket.close();
      return;
    }
    const conn = new Connection(this, socket, {
      durability: this.#options.durability,
      onEnded: this.#connectionEnded,
    });
    this.#connections.add(conn);
    this.stats.connectionsTotal++;
    conn.run();
  }

  /**
   * Publishes a message as the broker itself. Resolves once it is routed and, with a
   * durable store, once the resulting state is committed; rejects on an invalid topic.
   * onPublish hooks see it with no client (the broker's own), and may rewrite or drop it.
   */
  async publish(message: PublishOptions): Promise<void> {
    validateTopicName(message.topic);
    const payload = typeof message.payload === "string"
      ? encoder.encode(message.payload)
      : message.payload.slice();
    let stored: StoredMessage | null = {
      topic: message.topic,
      payload,
      qos: message.qos ?? 0,
      retain: message.retain ?? false,
    };
    if (message.properties) {
      stored.properties = { ...message.properties };
      stampExpiry(stored, this.clock);
    }
    if (this.hooks.onPublish.length > 0) stored = this.hooks.rewrite(null, stored);
    if (stored !== null) await this.publishInternal(stored);
  }

  /**
   * Subscribes in-process: the returned stream yields every matching message
   * (also usable with `for await`); cancelling it (or breaking the loop) unsubscribes.
   */
  subscribe(filter: string, options?: LocalSubscribeOptions): ReadableStream<ReceivedMessage> {
    return subscribeLocal(this, filter, options);
  }

  /** Routes a broker-originated message (wills, $SYS, the API) through the broker's own chain. */
  publishInternal(message: StoredMessage, counted = true): Promise<void> {
    // $SYS updates pass counted=false so that they do not inflate the figures they report.
    if (counted) this.stats.messagesReceived++;
    const batch = this.#chain.begin();
    this.router.route(message, batch);
    if (message.retain) this.retain(message, batch);
    if (counted && this.hooks.onPublished.length > 0) {
      this.hooks.notify("onPublished", (h) => h.onPublished!(null, hookMessage(message)));
    }
    this.#peers?.forward(message, batch);
    return this.#chain.submit(batch);
  }

  /** The peers this broker is linked to (a cluster, serverless isolates), if any. */
  get peers(): PeerLink | undefined {
    return this.#peers;
  }

  /** What peers call into: the only way they reach the engine (src/broker/peers.ts). */
  readonly peerPort: PeerPort;

  /** What the admin API, the metrics and $SYS see, and the actions they may take. */
  readonly admin: AdminView;

  /**
   * Links this broker to its peers (before clients connect): from now on it forwards the
   * messages it accepts, claims sessions on CONNECT and reports its interest to `link`.
   */
  attachPeers(link: PeerLink): void {
    if (this.#peers !== undefined) throw new Error("this broker is already linked to peers");
    this.#peers = link;
    this.router.clustered = link.routing === "stream";
    this.tree.onFilterChange = (filter, group, present) => link.interestChanged(filter, group, present);
    for (const { filter, group } of this.tree.entries()) link.interestChanged(filter, group, true);
  }

  retain(message: StoredMessage, batch: CommitBatch): void {
    if (!this.mqtt.retainAvailable) return;
    if (message.payload.length === 0) {
      // An empty retained payload removes the retained message and is not stored itself:
      // [MQTT-3.3.1-10] in 3.1.1, [MQTT-3.3.1-6] [MQTT-3.3.1-7] in 5.0.
      const previous = this.retained.get(message.topic);
      if (previous === undefined) return;
      this.retained.delete(message.topic);
      if (this.store) batch.persist({ kind: "deleteRetained", topic: message.topic });
      // Not deleted in the store: still the retained message (unless another took its place since).
      if (this.persistMessages) {
        batch.undo(() => {
          if (this.retained.get(message.topic) === undefined) this.retained.set(previous);
        });
      }
      return;
    }
    // [MQTT-3.3.1-5] the retained message replaces any earlier one on the topic.
    const stored: StoredMessage = message.retain ? message : { ...message, retain: true };
    const previous = this.retained.get(stored.topic);
    this.retained.set(stored);
    if (this.store) batch.persist({ kind: "putRetained", message: stored });
    // Not stored: never served (unless a later message replaced it meanwhile).
    if (!this.persistMessages) return;
    batch.undo(() => {
      if (this.retained.get(stored.topic) !== stored) return;
      if (previous === undefined) this.retained.delete(stored.topic);
      else this.retained.set(previous);
    });
  }

  enhancedAuth(method: string): EnhancedAuthenticator | undefined {
    return this.#options.enhancedAuth?.find((a) => a.method === method);
  }

  async authenticate(info: ConnectInfo): Promise<AuthResult> {
    if (this.hooks.authenticate.length > 0) {
      const decided = await this.hooks.decide(
        "authenticate",
        (h) => h.authenticate!(info),
        { ok: false, reason: "not_authorized" } as AuthResult,
      );
      if (decided !== undefined) return decided;
    }
    return this.#options.authenticator ? await this.#options.authenticator.authenticate(info) : { ok: true };
  }

  authorize(client: AuthorizedClient, access: Access, topic: string): boolean | Promise<boolean> {
    const authorizer = this.#options.authorizer;
    const hookList = access === "write" ? this.hooks.authorizePublish : this.hooks.authorizeSubscribe;
    if (hookList.length === 0) return authorizer ? authorizer.authorize(client, access, topic) : true;
    // (Apart: the closures of the hooks' path made every call allocate their context, once per PUBLISH.)
    return this.#authorizeWithHooks(client, access, topic);
  }

  #authorizeWithHooks(client: AuthorizedClient, access: Access, topic: string): Promise<boolean> {
    const authorizer = this.#options.authorizer;
    const hooked = this.#hookClient(client);
    const name = access === "write" ? "authorizePublish" : "authorizeSubscribe";
    return this.hooks.decide(
      name,
      (h) => access === "write" ? h.authorizePublish!(hooked, topic) : h.authorizeSubscribe!(hooked, topic),
      false,
    ).then((decided) => decided ?? (authorizer ? authorizer.authorize(client, access, topic) : true));
  }

  /** The client as hooks see it: where its session's connection is, and its protocol level. */
  #hookClient(client: AuthorizedClient): HookClient {
    const session = this.sessions.get(client.clientId);
    const link = session?.link ?? null;
    return {
      clientId: client.clientId,
      username: client.username,
      // Not connected: a will, authorised after its client went away.
      remoteAddress: link?.socket.remoteAddress ?? "",
      protocolLevel: link?.level ?? client.protocolLevel ?? session?.protocolLevel ?? 0,
    };
  }

  /**
   * Tells the broker that the authorizer's rules changed (an ACL file re-read): cached
   * delivery decisions are forgotten, so that existing subscriptions and queued messages
   * follow the new rules from the next message on.
   *
   * @example
   * ```ts
   * import { Broker } from "../mod.ts";
   * const broker = new Broker();
   * broker.accessChanged();
   * ```
   */
  accessChanged(): void {
    this.access.invalidate();
  }

  sessionDetached(session: Session, publishWill: boolean): void {
    this.#lifecycle.detached(session, publishWill);
  }

  discardSession(session: Session, batch: CommitBatch): void {
    this.#lifecycle.discard(session, batch);
  }

  connectionOpened(): void {
    this.#connected++;
    this.stats.clientsConnected = this.#connected;
    if (this.#connected > this.stats.clientsMaximum) this.stats.clientsMaximum = this.#connected;
  }

  connectionClosed(wasConnected: boolean): void {
    if (!wasConnected) return;
    this.#connected--;
    this.stats.clientsConnected = this.#connected;
  }

  /**
   * Bounds one session's queue below limits.max_queued_messages (a bridge's local session
   * holds what its remote broker has not taken yet, up to the bridge's own limit).
   */
  limitQueue(clientId: string, limit: number): void {
    const session = this.sessions.get(clientId);
    if (session !== undefined) session.queueLimit = limit;
  }

  /**
   * Graceful shutdown: refuses new connections, closes every client (v5: DISCONNECT
   * 0x8B; wills are published as for any server-side close), waits for pending
   * commits, and closes the store.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const closing = [...this.#connections];
    for (const conn of closing) conn.close(0x8b, "server shutting down");
    await Promise.all(closing.map((c) => c.chain.submit(c.chain.begin())));
    await this.#chain.submit(this.#chain.begin());
    this.#lifecycle.stopTimers();
    this.keepAlive.stop();
    await this.store?.close();
  }
}
