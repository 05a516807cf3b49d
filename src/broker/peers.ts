/**
 * The one seam between the engine and its peers: the other brokers that serve the
 * same clients and share its store. Two implementations exist, a cluster node on
 * NATS JetStream (src/cluster/) and serverless isolates on a BroadcastChannel and a
 * shared Deno KV (src/serverless/). Each gives the engine a {@link PeerLink} (what the
 * engine asks of its peers) and calls the engine only through the {@link PeerPort} it
 * is handed (what peers ask of the engine). Nothing else of theirs reaches the engine.
 *
 * @module
 */
import type { LoadedSession, StoredMessage } from "../persistence/store.ts";
import type { QoS } from "../protocol/packet.ts";
import type { CommitBatch } from "./commit_batch.ts";
import type { ForeignSessionPolicy, SessionOwner } from "./session_owner.ts";

/**
 * How the messages this broker accepts reach its own subscribers once peers are attached.
 *
 * - `"local"`: routed here at once, and a copy goes to the peers (serverless isolates).
 * - `"stream"`: QoS 1/2 messages come back through the peers' ordered stream, like on every
 *   other peer, so that every node routes them in one order; share groups span the peers,
 *   which pick the member (the cluster: docs/cluster.md). Only QoS 0 messages and `$` topics
 *   are routed here at once.
 */
export type PeerRouting = "local" | "stream";

/** The outcome of {@link PeerLink.claim}. */
export interface PeerClaim {
  /**
   * The session belongs to another user than the one connecting and stays theirs
   * (session_owner.ts): the CONNECT is refused, and its client's connection elsewhere is left open.
   */
  refused: boolean;
}

/**
 * The peers' transport, for the metrics.
 *
 * @example
 * ```ts
 * import { Broker, type PeerStatus } from "../mod.ts";
 * const broker = new Broker();
 * const status: PeerStatus | undefined = broker.admin.peerStatus(); // undefined: no cluster
 * console.log(status?.connected ?? "not clustered");
 * await broker.close();
 * ```
 */
export interface PeerStatus {
  /** Connected to the peers' transport (a NATS server) now. */
  connected: boolean;
  /** Connections to it lost since start. */
  disconnects: number;
  /** Connections to it regained since start. */
  reconnects: number;
  /** Publishes and store writes retried through a fault of the transport (each waited for, none lost). */
  retries: number;
}

/** What the engine asks of its peers. */
export interface PeerLink {
  /** See {@link PeerRouting}. */
  readonly routing: PeerRouting;
  /**
   * Peers take the sessions of a broker that stopped in (the cluster): a clean session with a
   * will is then stored too, only for its will, so that the peer that adopts it publishes it.
   */
  readonly adoptsOrphans: boolean;
  /**
   * Hands a message accepted here to the peers. May make `batch` wait, so that a QoS 1/2
   * acknowledgement is sent only once the peers hold the message.
   */
  forward(message: StoredMessage, batch: CommitBatch): void;
  /**
   * Called on CONNECT, after authentication and before the session is attached: closes the
   * client's connection on any peer [MQTT-3.1.4-3] and, when this broker does not hold the
   * session, takes it in through {@link PeerPort.adopt}. Refused, before anything is closed,
   * let go or recorded, when the session belongs to another user than `client.username`.
   */
  claim(clientId: string, clean: boolean, client: { username?: string }): Promise<PeerClaim>;
  /**
   * After subscriptions changed: resolves once the peers route the new filters here, so
   * that a SUBACK promises delivery from every peer. Undefined when nothing is pending.
   */
  settled(): Promise<void> | undefined;
  /** A filter gained its first subscriber here (`present`) or lost its last one. */
  interestChanged(filter: string, group: string | undefined, present: boolean): void;
  /** The transport's state, for the metrics (undefined: nothing to report). */
  status(): PeerStatus | undefined;
}

/** A message a session missed while it changed broker, as the router would have queued it for that session. */
export interface MissedMessage {
  message: StoredMessage;
  /** Already the lower of the message's QoS and the granted one. */
  qos: QoS;
  subscriptionIds?: number[];
}

/** How {@link PeerPort.deliver} routes a message a peer accepted. */
export interface PeerDelivery {
  /** Accepted here and brought back by the peers' stream: counted when it was accepted, not again. */
  own?: boolean;
  /** The share group (and its filter) the peers picked this broker for: one of its members here gets it. */
  group?: { group: string; filter: string };
}

/**
 * How a session let go to a peer ends here ({@link PeerPort.release}); the will policy
 * follows from it.
 *
 * - `"close"`: its connection closes as one taken over on a single broker does: the session's
 *   last state is stored (the peer reads it once the release resolves) and its will follows the
 *   usual rules, published at once when it has no delay or when the session ends with the
 *   connection [MQTT-3.1.2-8] [MQTT-3.1.3-9]. For peers that read the session after the release.
 * - `"detach"`: the peer may be writing the shared store already, so nothing more is written
 *   here: the session is detached before its connection closes, and only a will without delay
 *   is published (a delayed one is the new connection's to cancel [MQTT-3.1.3-9]).
 */
export type ReleaseEnding = "close" | "detach";

/** How {@link PeerPort.adopt} holds a session taken in from the shared store. */
export interface AdoptOptions {
  /**
   * The session of a broker that stopped: held offline, its will and expiry clocks running from
   * when it lost its connection, as after a restart (default false).
   */
  orphan?: boolean;
  /**
   * False: nothing is routed to it until {@link PeerPort.startRouting}, so that what it missed
   * can be queued first, in order (default true).
   */
  routed?: boolean;
}

/** A session held here, as peers may see it. */
export interface HeldSession {
  /** Whose it is (session_owner.ts). */
  owner: SessionOwner;
  /** Its client is connected here now. */
  online: boolean;
}

/** What peers ask of the engine: the only way they reach it. */
export interface PeerPort {
  /** The engine's clock (ms), to stamp what peers tell each other. */
  now(): number;
  /** What a CONNECT gets when its client id names an offline session of another user (reloadable). */
  readonly foreignSession: ForeignSessionPolicy;
  /** The session held here for `clientId`, if any. */
  held(clientId: string): HeldSession | undefined;
  /**
   * Routes a message a peer accepted to this broker's subscribers (no hook runs and nothing is
   * forwarded back). Resolves once what it queued is stored.
   */
  deliver(message: StoredMessage, how?: PeerDelivery): Promise<void>;
  /**
   * A retained message a peer stored (or removed, with `message` undefined): the retained set
   * here follows it; the store is not written again.
   */
  retainedChanged(topic: string, message: StoredMessage | undefined): void;
  /**
   * Lets a peer take a session over: closes its connection here (v5: DISCONNECT 0x8E, as for a
   * takeover on one broker) [MQTT-3.1.4-3], waits until what this broker wrote for it is stored,
   * and forgets it without deleting the stored copy. False when this broker does not hold it.
   */
  release(clientId: string, ending: ReleaseEnding): Promise<boolean>;
  /** Holds a session loaded from the shared store (one held here already is let go first). */
  adopt(loaded: LoadedSession, options?: AdoptOptions): void;
  /**
   * Queues messages a session adopted unrouted missed, in order, as live ones are: against the
   * same limits and drop counters, and the same read checks. Resolves once they are stored.
   */
  admitMissed(clientId: string, missed: readonly MissedMessage[]): Promise<void>;
  /** Starts routing to a session adopted with `routed` false. */
  startRouting(clientId: string): void;
  /** Drops a session from memory (one whose catch-up failed); the store keeps it. */
  forget(clientId: string): void;
  /**
   * Lets every session go at once, in memory only (their connections closed as taken over): the
   * peers declared this broker dead and adopted them. Returns how many there were.
   */
  releaseAll(): number;
  /** Resolves once everything routed and queued so far is stored. */
  flush(): Promise<void>;
}
