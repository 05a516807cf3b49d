/**
 * The broker engine: owns sessions, the subscription tree and retained
 * messages; serves any {@link Socket}; publishes directly; recovers from the
 * store at start. No sockets and no `Deno.*` here: the clock and the store are
 * injected.
 *
 * @module
 */
import { KeepAliveSweeper } from "./keep_alive.ts";
import { getLogger, type Logger } from "@logtape/logtape";
import { validateTopicName } from "../protocol/topic.ts";
import { type Properties, type QoS, Reason } from "../protocol/packet.ts";
import type { Store, StoredMessage } from "../persistence/store.ts";
import type { Socket } from "../transport/socket.ts";
import { type Clock, systemClock } from "./clock.ts";
import { type CommitBatch, CommitChain } from "./commit_batch.ts";
import { Connection } from "./connection.ts";
import type { BrokerContext } from "./context.ts";
import { type BrokerHook, hookMessage, Hooks } from "./hooks.ts";
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
import { ClusterMember } from "./cluster_member.ts";
import type { ClusterLink } from "./cluster_link.ts";
import { RetainedIndex } from "./retained.ts";
import { ReadAccess } from "./read_access.ts";
import { Router } from "./router.ts";
import type { Access, AuthResult, ConnectedClient, ConnectInfo } from "./security.ts";
import type { EnhancedAuthenticator } from "./enhanced_auth.ts";
import type { Session, Subscription } from "./session.ts";
import { SessionLifecycle } from "./session_lifecycle.ts";
import { type ForeignSessionPolicy, identityOf, judgeOwner } from "./session_owner.ts";
import { BrokerStats } from "./stats.ts";
import { TopicTree } from "./topic_tree.ts";

/** A message given to {@link Broker.publish}. */
export interface PublishOptions {
  topic: string;
  payload: Uint8Array | string;
  qos?: QoS;
  retain?: boolean;
  properties?: Properties;
}

const encoder = new TextEncoder();

export class Broker implements BrokerContext {
  readonly clock: Clock;
  readonly stats: BrokerStats;
  readonly mqtt: MqttOptions;
  readonly limits: LimitOptions;
  readonly store: Store | undefined;
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
  readonly #chain: CommitChain;
  readonly #lifecycle: SessionLifecycle;
  #cluster: ClusterLink | undefined;
  #closing = false;
  #started = false;
  #connected = 0;

  constructor(options: BrokerOptions = {}) {
    this.#options = options;
    this.hooks = new Hooks(getLogger(["mqtt", "hooks"]), options.hookTimeoutMs);
    this.clock = options.clock ?? systemClock;
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
    this.member = new ClusterMember(this, this.#chain, this.#lifecycle);
  }

  get closing(): boolean {
    return this.#closing;
  }

  get connectedCount(): number {
    return this.#connected;
  }

  /** Opens the store and restores sessions, subscriptions, queues and retained messages. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    if (this.store === undefined) return;
    await this.store.open();
    const snapshot = await this.store.load();
    const restored = restoreState(this, snapshot);
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
    const conn = new Connection(this, socket, { durability: this.#options.durability });
    this.#connections.add(conn);
    this.stats.connectionsTotal++;
    conn.run().finally(() => this.#connections.delete(conn));
  }

  /**
   * Publishes a message as the broker itself. Resolves once it is routed and, with a
   * durable store, once the resulting state is committed.
   */
  publish(message: PublishOptions): Promise<void> {
    validateTopicName(message.topic);
    const payload = typeof message.payload === "string"
      ? encoder.encode(message.payload)
      : message.payload.slice();
    let stored: StoredMessage = {
      topic: message.topic,
      payload,
      qos: message.qos ?? 0,
      retain: message.retain ?? false,
    };
    if (message.properties) {
      stored.properties = { ...message.properties };
      stampExpiry(stored, this.clock);
    }
    if (this.hooks.onPublish.length > 0) {
      for (const hook of this.hooks.onPublish) {
        const result = hook.onPublish!(null, hookMessage(stored));
        if (result === null) return Promise.resolve();
        if (result !== undefined) stored = { ...stored, ...result };
      }
    }
    return this.publishInternal(stored);
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
    this.#cluster?.forward(message, batch);
    return this.#chain.submit(batch);
  }

  /**
   * Delivers a message that another broker instance sharing this broker's store has
   * already accepted (serverless isolates). Local subscribers get it and the retained
   * index follows it, but the retained copy is not written again (its publisher's
   * instance did that) and no onPublished hook runs, so it is never forwarded back.
   */
  routeFromPeer(message: StoredMessage): Promise<void> {
    const batch = this.#chain.begin();
    this.router.route(message, batch);
    if (message.retain && this.mqtt.retainAvailable) {
      if (message.payload.length === 0) this.retained.delete(message.topic);
      else this.retained.set(message);
    }
    return this.#chain.submit(batch);
  }

  /**
   * Gives a client id up to another broker instance sharing this broker's store: the
   * local connection (if any) is closed as taken over, and the session is forgotten
   * here without touching the store, which the new owner now writes. A will without
   * delay is published, as for a takeover within one broker.
   */
  async releaseSession(clientId: string): Promise<boolean> {
    const session = this.sessions.get(clientId);
    if (session === undefined) return false;
    const link = session.link as Connection | null;
    // Unlinked first, so that the closing connection does not persist or schedule the session.
    session.link = null;
    link?.takeOver();
    this.#lifecycle.forget(session);
    // A delayed will is cancelled by the new connection [MQTT-3.1.3-9]; one without delay goes now.
    if (link !== null && session.will?.delay === 0) this.#lifecycle.publishWill(session);
    // Resolve once what this instance wrote for the client is in the store, for the new owner to read.
    await Promise.all([link?.chain.submit(link.chain.begin()), this.#chain.submit(this.#chain.begin())]);
    return true;
  }

  /**
   * Before a CONNECT is attached: when this broker holds no session for the client,
   * asks the loadSession hooks for one kept elsewhere and restores it here. "refused"
   * when the session found belongs to another user: whether its client is connected
   * to another instance is not known here, so it is never discarded either.
   */
  async adoptSession(
    clientId: string,
    clean: boolean,
    client: { username?: string } = {},
  ): Promise<"adopted" | "none" | "refused"> {
    if (this.sessions.has(clientId) || this.hooks.loadSession.length === 0) return "none";
    const loaded = await this.hooks.decide(
      "loadSession",
      (h) => h.loadSession!(clientId, clean, client),
      undefined,
    );
    // Another connection may have created the session while the hook was looking.
    if (loaded === undefined || this.sessions.has(clientId)) return "none";
    const identity = identityOf(client.username);
    if (judgeOwner(loaded.session.username, identity, true, this.foreignSession) !== "resume") {
      return "refused";
    }
    restoreState(this, { sessions: [loaded], retained: [] });
    return "adopted";
  }

  /** The cluster this broker is a node of, if any. */
  get cluster(): ClusterLink | undefined {
    return this.#cluster;
  }

  /** The engine's side of cluster membership: remote routing, handing sessions over. */
  readonly member: ClusterMember;

  /** Makes this broker a node of a cluster (before clients connect). */
  attachCluster(link: ClusterLink): void {
    this.#cluster = link;
    this.router.clustered = true;
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

  authorize(
    client: { clientId: string; username?: string },
    access: Access,
    topic: string,
  ): boolean | Promise<boolean> {
    const authorizer = this.#options.authorizer;
    const hookList = access === "write" ? this.hooks.authorizePublish : this.hooks.authorizeSubscribe;
    if (hookList.length === 0) return authorizer ? authorizer.authorize(client, access, topic) : true;
    // (Apart: the closures of the hooks' path made every call allocate their context, once per PUBLISH.)
    return this.#authorizeWithHooks(client, access, topic);
  }

  #authorizeWithHooks(
    client: { clientId: string; username?: string },
    access: Access,
    topic: string,
  ): Promise<boolean> {
    const authorizer = this.#options.authorizer;
    const hookClient = {
      clientId: client.clientId,
      username: client.username,
      remoteAddress: "",
      protocolLevel: 0,
    };
    const name = access === "write" ? "authorizePublish" : "authorizeSubscribe";
    return this.hooks.decide(
      name,
      (h) =>
        access === "write"
          ? h.authorizePublish!(hookClient, topic)
          : h.authorizeSubscribe!(hookClient, topic),
      false,
    ).then((decided) => decided ?? (authorizer ? authorizer.authorize(client, access, topic) : true));
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

  /**
   * Closes every connected client that `revoke` picks, as when its credentials were
   * withdrawn: v5 clients get DISCONNECT 0x87 (Not authorized). Their sessions stay, as
   * after any server-side close. Returns the client ids closed.
   */
  revokeClients(revoke: (client: ConnectedClient) => boolean): string[] {
    const closed: string[] = [];
    for (const conn of this.#connections) {
      if (conn.phase !== "connected" || conn.socket.internal) continue;
      const client: ConnectedClient = {
        clientId: conn.clientId,
        username: conn.state.username,
        listener: conn.socket.listener,
        remoteAddress: conn.socket.remoteAddress,
        certificateIdentity: conn.socket.identity,
      };
      if (!revoke(client)) continue;
      conn.close(Reason.NotAuthorized, "credentials revoked");
      closed.push(conn.clientId);
    }
    return closed;
  }

  willDue(session: Session): void {
    this.#lifecycle.publishWill(session);
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
   * Closes a client's connection as an administrative action (v5: DISCONNECT 0x98).
   * Its session stays, as after any server-side close. False when it is not connected.
   */
  disconnectClient(clientId: string): boolean {
    const link = this.sessions.get(clientId)?.link;
    if (link === null || link === undefined) return false;
    (link as Connection).close(Reason.AdministrativeAction, "disconnected by an administrator");
    return true;
  }

  /** Disconnects the client if needed and deletes its session, subscriptions and queue. */
  async removeSession(clientId: string): Promise<boolean> {
    this.disconnectClient(clientId);
    const session = this.sessions.get(clientId);
    if (session === undefined) return false;
    const batch = this.#chain.begin();
    this.#lifecycle.discard(session, batch);
    await this.#chain.submit(batch);
    return true;
  }

  /** Messages held for sessions: sent and unacknowledged, and waiting in queues (for $SYS, metrics, the API). */
  pendingMessages(): { inflight: number; queued: number; queuedBytes: number } {
    let inflight = 0;
    let queued = 0;
    let queuedBytes = 0;
    for (const session of this.sessions.values()) {
      inflight += session.inflight.size;
      queued += session.queue.length;
      queuedBytes += session.queuedBytes;
    }
    return { inflight, queued, queuedBytes };
  }

  /** Live connections (for the management API). */
  get connections(): ReadonlySet<Connection> {
    return this.#connections;
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
