/**
 * The read-only view of the engine that the admin API, the metrics and `$SYS` use,
 * plus the few administrative actions (disconnect a client, remove a session, close
 * clients whose credentials were withdrawn). Nothing outside src/broker reads the
 * engine's sessions, subscription tree, retained index or connections directly.
 *
 * @module
 */
import type { StoredMessage } from "../persistence/store.ts";
import { Reason } from "../protocol/packet.ts";
import type { CommitChain } from "./commit_batch.ts";
import { Connection } from "./connection.ts";
import type { BrokerContext } from "./context.ts";
import type { PeerStatus } from "./peers.ts";
import type { ConnectedClient } from "./security.ts";
import type { Session } from "./session.ts";
import type { SessionLifecycle } from "./session_lifecycle.ts";
import type { BrokerCounters } from "./stats.ts";

/**
 * A connected client, as the admin API and the metrics list it ({@link AdminView.clients}).
 *
 * @example
 * ```ts
 * import { Broker, type ClientInfo } from "../mod.ts";
 * const broker = new Broker();
 * const clients: ClientInfo[] = broker.admin.clients();
 * console.log(clients.map((c) => `${c.clientId}@${c.listener}`));
 * await broker.close();
 * ```
 */
export interface ClientInfo {
  /** The client identifier. */
  clientId: string;
  /** The user name it authenticated as. */
  username?: string;
  /** The listener it connected on (`bridge` for a bridge's own session). */
  listener: string;
  /** Where it is connected from (`host:port`). */
  remoteAddress: string;
  /** 3, 4 or 5. */
  protocolLevel: number;
  /** A 3.x bridge that set the bridge bit in CONNECT (it gets nothing back of what it forwards). */
  bridge: boolean;
}

/**
 * A session, connected or not ({@link AdminView.sessions}).
 *
 * @example
 * ```ts
 * import { Broker, type SessionInfo } from "../mod.ts";
 * const broker = new Broker();
 * const offline: SessionInfo[] = broker.admin.sessions().filter((s) => !s.connected);
 * console.log(offline.length);
 * await broker.close();
 * ```
 */
export interface SessionInfo {
  /** Its client identifier. */
  clientId: string;
  /** The user name it belongs to, when known. */
  username?: string;
  /** Its client is connected now. */
  connected: boolean;
  /** Where its client is connected from, while connected. */
  remoteAddress?: string;
  /** The listener its client is connected on, while connected. */
  listener?: string;
  /** Keep-alive in seconds of its connection, while connected. */
  keepAlive?: number;
  /** The protocol level its client connected with last. */
  protocolLevel: number;
  /** QoS 1/2 messages sent and not yet acknowledged. */
  inflight: number;
  /** Messages waiting for the client (or for room in its in-flight window). */
  queued: number;
  /** How many subscriptions it has. */
  subscriptionCount: number;
  /** Seconds; 0xFFFFFFFF: never. */
  expiryInterval: number;
}

/**
 * One subscription of a session ({@link AdminView.subscriptions}).
 *
 * @example
 * ```ts
 * import { Broker, type SubscriptionInfo } from "../mod.ts";
 * const broker = new Broker();
 * const shared: SubscriptionInfo[] = broker.admin.subscriptions().filter((s) => s.group !== undefined);
 * console.log(shared.length);
 * await broker.close();
 * ```
 */
export interface SubscriptionInfo {
  /** The session's client identifier. */
  clientId: string;
  /** As the client gave it (`$share/<group>/<filter>` for a shared one). */
  filter: string;
  /** The QoS granted. */
  qos: number;
  /** MQTT 5 No Local. */
  noLocal: boolean;
  /** MQTT 5 Retain As Published. */
  retainAsPublished: boolean;
  /** MQTT 5 Retain Handling (0, 1 or 2). */
  retainHandling: number;
  /** MQTT 5 Subscription Identifier. */
  subscriptionId?: number;
  /** The share group, for a shared subscription. */
  group?: string;
}

/**
 * Messages held for sessions (for $SYS, the metrics and the API).
 *
 * @example
 * ```ts
 * import { Broker, type PendingMessages } from "../mod.ts";
 * const broker = new Broker();
 * const pending: PendingMessages = broker.admin.pendingMessages();
 * console.log(pending.inflight + pending.queued);
 * await broker.close();
 * ```
 */
export interface PendingMessages {
  /** Sent and not yet acknowledged. */
  inflight: number;
  /** Waiting in session queues. */
  queued: number;
  /** Payload and property bytes of the queued ones. */
  queuedBytes: number;
}

/**
 * How much the broker holds.
 *
 * @example
 * ```ts
 * import { Broker, type BrokerSizes } from "../mod.ts";
 * const broker = new Broker();
 * const sizes: BrokerSizes = broker.admin.sizes();
 * console.log(sizes.sessions, sizes.subscriptions, sizes.retained);
 * await broker.close();
 * ```
 */
export interface BrokerSizes {
  /** Sessions, connected or not. */
  sessions: number;
  /** Subscriptions in the topic tree (one per distinct filter of each session). */
  subscriptions: number;
  /** Retained messages. */
  retained: number;
}

/**
 * What the admin API, the metrics and `$SYS` may see of a broker, and the
 * administrative actions they may take ({@link Broker.admin}).
 *
 * @example
 * ```ts
 * import { Broker } from "../mod.ts";
 * const broker = new Broker();
 * await broker.start();
 * console.log(broker.admin.sizes().sessions, broker.admin.counters.messagesReceived);
 * await broker.close();
 * ```
 */
export interface AdminView {
  /** The broker's version (`BrokerOptions.version`). */
  readonly version: string;
  /** Counters since start. */
  readonly counters: BrokerCounters;
  /** Milliseconds since the broker was created, on its clock. */
  uptimeMs(): number;
  /** How many sessions, subscriptions and retained messages the broker holds. */
  sizes(): BrokerSizes;
  /** The clients connected now (CONNECT accepted). */
  clients(): ClientInfo[];
  /** Every session, connected or not. */
  sessions(): SessionInfo[];
  /** One session, with its subscriptions; undefined when there is none. */
  session(clientId: string): (SessionInfo & { subscriptions: SubscriptionInfo[] }) | undefined;
  /** Every session's subscriptions (one session's when `clientId` is given). */
  subscriptions(clientId?: string): SubscriptionInfo[];
  /** The retained messages whose topic matches `filter`. */
  retained(filter: string): readonly StoredMessage[];
  /** Messages held for sessions. */
  pendingMessages(): PendingMessages;
  /** The peers' transport (a cluster's NATS connection), when the broker has peers that report one. */
  peerStatus(): PeerStatus | undefined;
  /**
   * Starts counting messages per topic, and returns the counts since the last call (the
   * dashboard's busiest topics). Nothing is counted until the first call.
   */
  takeTopicSample(): Map<string, number>;
  /** Stops counting messages per topic. */
  stopTopicSample(): void;
  /**
   * Closes a client's connection as an administrative action (v5: DISCONNECT 0x98). Its
   * session stays, as after any server-side close. False when it is not connected.
   */
  disconnect(clientId: string): boolean;
  /** Disconnects the client if needed and deletes its session, subscriptions and queue. */
  removeSession(clientId: string): Promise<boolean>;
  /**
   * Closes every connected client that `revoke` picks, as when its credentials were
   * withdrawn: v5 clients get DISCONNECT 0x87 (Not authorized). Their sessions stay, as
   * after any server-side close. Returns the client ids closed. The broker's own
   * connections (bridges) are never picked.
   */
  revokeClients(revoke: (client: ConnectedClient) => boolean): string[];
}

/** What the admin view reads of the engine beyond its context. */
export interface AdminSource {
  readonly engine: BrokerContext;
  readonly version: string;
  readonly connections: ReadonlySet<Connection>;
  readonly chain: CommitChain;
  readonly lifecycle: SessionLifecycle;
}

/** The engine's admin view (one per engine). */
export class EngineAdmin implements AdminView {
  readonly #s: AdminSource;

  constructor(source: AdminSource) {
    this.#s = source;
  }

  get version(): string {
    return this.#s.version;
  }

  get counters(): BrokerCounters {
    return this.#s.engine.stats;
  }

  uptimeMs(): number {
    const engine = this.#s.engine;
    return engine.clock.now() - engine.stats.startedAt;
  }

  sizes(): BrokerSizes {
    const engine = this.#s.engine;
    return {
      sessions: engine.sessions.size,
      subscriptions: engine.tree.size,
      retained: engine.retained.size,
    };
  }

  clients(): ClientInfo[] {
    const out: ClientInfo[] = [];
    for (const conn of this.#s.connections) {
      if (conn.phase !== "connected") continue;
      out.push({
        clientId: conn.clientId,
        username: conn.state.username,
        listener: conn.socket.listener,
        remoteAddress: conn.socket.remoteAddress,
        protocolLevel: conn.level,
        bridge: conn.state.bridge,
      });
    }
    return out;
  }

  sessions(): SessionInfo[] {
    return [...this.#s.engine.sessions.values()].map(sessionInfo);
  }

  session(clientId: string): (SessionInfo & { subscriptions: SubscriptionInfo[] }) | undefined {
    const session = this.#s.engine.sessions.get(clientId);
    if (session === undefined) return undefined;
    return { ...sessionInfo(session), subscriptions: subscriptionsOf(session) };
  }

  subscriptions(clientId?: string): SubscriptionInfo[] {
    const sessions = this.#s.engine.sessions;
    if (clientId !== undefined) {
      const session = sessions.get(clientId);
      return session === undefined ? [] : subscriptionsOf(session);
    }
    return [...sessions.values()].flatMap(subscriptionsOf);
  }

  retained(filter: string): readonly StoredMessage[] {
    return this.#s.engine.retained.match(filter);
  }

  pendingMessages(): PendingMessages {
    let inflight = 0;
    let queued = 0;
    let queuedBytes = 0;
    for (const session of this.#s.engine.sessions.values()) {
      inflight += session.inflightCount;
      queued += session.queuedCount;
      queuedBytes += session.queuedBytes;
    }
    return { inflight, queued, queuedBytes };
  }

  peerStatus(): PeerStatus | undefined {
    return this.#s.engine.peers?.status();
  }

  takeTopicSample(): Map<string, number> {
    return this.#s.engine.stats.takeTopicSample();
  }

  stopTopicSample(): void {
    this.#s.engine.stats.topicSample = null;
  }

  disconnect(clientId: string): boolean {
    const link = this.#s.engine.sessions.get(clientId)?.link;
    if (!(link instanceof Connection)) return false;
    link.close(Reason.AdministrativeAction, "disconnected by an administrator");
    return true;
  }

  async removeSession(clientId: string): Promise<boolean> {
    this.disconnect(clientId);
    const session = this.#s.engine.sessions.get(clientId);
    if (session === undefined) return false;
    const { chain, lifecycle } = this.#s;
    const batch = chain.begin();
    lifecycle.discard(session, batch);
    await chain.submit(batch);
    return true;
  }

  revokeClients(revoke: (client: ConnectedClient) => boolean): string[] {
    const closed: string[] = [];
    for (const conn of this.#s.connections) {
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
}

function sessionInfo(session: Session): SessionInfo {
  const link = session.link;
  const info: SessionInfo = {
    clientId: session.clientId,
    connected: link !== null,
    protocolLevel: session.protocolLevel,
    inflight: session.inflightCount,
    queued: session.queuedCount,
    subscriptionCount: session.subscriptionCount,
    expiryInterval: session.expiryInterval,
  };
  if (session.username !== undefined) info.username = session.username;
  if (link !== null) {
    info.remoteAddress = link.socket.remoteAddress;
    info.listener = link.socket.listener;
  }
  if (link instanceof Connection) info.keepAlive = link.state.keepAlive;
  return info;
}

function subscriptionsOf(session: Session): SubscriptionInfo[] {
  if (session.subscriptionCount === 0) return []; // without creating the session's map
  return [...session.subscriptions.entries()].map(([key, sub]) => {
    const info: SubscriptionInfo = {
      clientId: session.clientId,
      filter: key,
      qos: sub.qos,
      noLocal: sub.noLocal,
      retainAsPublished: sub.retainAsPublished,
      retainHandling: sub.retainHandling,
    };
    if (sub.subscriptionId !== undefined) info.subscriptionId = sub.subscriptionId;
    if (sub.group !== undefined) info.group = sub.group;
    return info;
  });
}
