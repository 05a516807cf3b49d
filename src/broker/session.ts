/**
 * A client's session: what outlives a network connection. Subscriptions, the
 * outbound queue and in-flight window, inbound QoS 2 state, the will and the
 * expiry. The connection that currently serves it (if any) is referenced here.
 *
 * @module
 */
import type { PacingState } from "./pacing.ts";
import type { ProtocolLevel, QoS } from "../protocol/packet.ts";
import type {
  OutboundEntry,
  StoredMessage,
  StoredSession,
  StoredSubscription,
  StoredWill,
} from "../persistence/store.ts";
import type { Socket } from "../transport/socket.ts";
import type { Clock, TimerHandle } from "./clock.ts";
import type { OutboundAliases } from "./topic_alias.ts";
import type { SessionOwner } from "./session_owner.ts";

/** The subset of a connection a session delivers through (avoids an import cycle). */
export interface SessionLink {
  readonly level: ProtocolLevel;
  readonly socket: Socket;
  /** The client's Maximum Packet Size (v5), else the protocol maximum. */
  readonly maxPacketSize: number;
  /** How many QoS 1/2 messages may be in flight to this client. */
  readonly sendWindow: number;
  /** Outbound topic aliases, when the client allows them (v5). */
  readonly aliases: OutboundAliases | null;
  /** Closes the connection because another one took the session over. */
  takeOver(): void;
}

/** A subscription as stored in the topic tree: its options plus the session it feeds. */
export interface Subscription extends StoredSubscription {
  /** Share group name for `$share/{group}/{filter}` subscriptions. */
  group?: string;
  readonly session: Session;
}

/** Session expiry value meaning "never". */
export const NEVER_EXPIRES = 0xffffffff;

/** The key of a subscription within a session: the filter, prefixed for shared ones. */
export function subscriptionKey(filter: string, group?: string): string {
  return group === undefined ? filter : `$share/${group}/${filter}`;
}

/**
 * The filter a subscription is held under in the topic tree: a shared one's stored filter
 * (`$share/{group}/{filter}`, as the client sent it) without its share prefix.
 */
export function treeFilter(sub: { readonly filter: string; readonly group?: string | null }): string {
  const group = sub.group;
  return group === undefined || group === null
    ? sub.filter
    : sub.filter.slice("$share/".length + group.length + 1);
}

export class Session {
  readonly clientId: string;
  protocolLevel: ProtocolLevel;
  /** Seconds; NEVER_EXPIRES for 3.x persistent sessions, 0 for clean ones. */
  expiryInterval: number;
  /** Who the session belongs to (session_owner.ts): a user name, null when anonymous, undefined when unknown. */
  owner: SessionOwner = undefined;
  // The collections below are created on first use: most sessions of a broker with many devices
  // are clean and idle, and an empty Map costs about 250 bytes (docs/benchmarks.md, idle connections).
  #subscriptions: Map<string, Subscription> | null = null;
  #inflight: Map<number, OutboundEntry> | null = null;
  #queue: OutboundEntry[] | null = null;
  queuedBytes = 0;
  /** Publishers waiting for the queue to drain (pacing.ts); made when it first passes the mark. */
  pacing: PacingState | null = null;
  /** Overrides limits.maxQueuedMessages for this session (a bridge bounds its own queue). */
  queueLimit?: number;
  #inbound2: Set<number> | null = null;
  will?: StoredWill;
  link: SessionLink | null = null;
  disconnectedAt?: number;
  expiryTimer?: TimerHandle;
  willTimer?: TimerHandle;
  /**
   * A non-persistent session stored only for its will: in a cluster, so that another node
   * can publish the will if this one dies. Its stored record is deleted when it ends.
   */
  storedForWill = false;
  /** Router bookkeeping: the id of the last message routed here (detects overlapping subscriptions). */
  routeStamp = 0;
  /**
   * False for a session restored from the store until its client connects again: the store
   * keeps no user name, so read checks wait until the user is known (see ReadAccess).
   */
  identityKnown = true;
  /** The broker's own sessions (in-process subscribers) are never subject to read checks. */
  trusted = false;
  /** Delivery-time read answers by topic (ReadAccess), with the rules generation and user they hold for. */
  readCache: Map<string, boolean> | null = null;
  readCacheGeneration = 0;
  readCacheUser: string | undefined;
  /** The last answer (ReadAccess's fast path; valid under the same generation and user as the cache). */
  lastReadTopic: string | undefined;
  lastReadVerdict = false;
  #nextSeq = 1;
  #nextPacketId = 1;

  constructor(clientId: string, protocolLevel: ProtocolLevel, expiryInterval: number) {
    this.clientId = clientId;
    this.protocolLevel = protocolLevel;
    this.expiryInterval = expiryInterval;
  }

  /** The subscriptions by {@link subscriptionKey}. Reading it creates it: count with {@link subscriptionCount}. */
  get subscriptions(): Map<string, Subscription> {
    return this.#subscriptions ??= new Map();
  }

  /** In-flight outbound QoS 1/2 messages by packet id, in send order (created on first use). */
  get inflight(): Map<number, OutboundEntry> {
    return this.#inflight ??= new Map();
  }

  /** Outbound messages waiting for a window slot, or for the client to come back (created on first use). */
  get queue(): OutboundEntry[] {
    return this.#queue ??= [];
  }

  /** How many subscriptions the session has, without creating the map. */
  get subscriptionCount(): number {
    return this.#subscriptions?.size ?? 0;
  }

  /** How many messages are in flight, without creating the map. */
  get inflightCount(): number {
    return this.#inflight?.size ?? 0;
  }

  /** How many messages are queued, without creating the queue. */
  get queuedCount(): number {
    return this.#queue?.length ?? 0;
  }

  /** Drops every subscription (the topic tree is the caller's). */
  clearSubscriptions(): void {
    this.#subscriptions = null;
  }

  /**
   * Inbound QoS 2 packet ids: PUBREC sent, PUBREL not yet received. Created on first use:
   * most clients never publish at QoS 2, and an empty Set costs about 300 bytes per connection.
   */
  get inbound2(): Set<number> {
    return this.#inbound2 ??= new Set();
  }

  /** The owner's user name (undefined for anonymous or unknown owners), for ACL checks of the will. */
  get username(): string | undefined {
    return this.owner ?? undefined;
  }

  /** The session record to store; `expiryInterval` overrides the session's own. */
  record(expiryInterval = this.expiryInterval): StoredSession {
    const record: StoredSession = {
      clientId: this.clientId,
      protocolLevel: this.protocolLevel,
      expiryInterval,
      will: this.will,
    };
    if (this.disconnectedAt !== undefined) record.disconnectedAt = this.disconnectedAt;
    if (this.owner !== undefined) record.username = this.owner;
    return record;
  }

  /** Stops the delayed will and the expiry, if either is pending. */
  clearTimers(clock: Clock): void {
    if (this.willTimer !== undefined) clock.clearTimer(this.willTimer);
    if (this.expiryTimer !== undefined) clock.clearTimer(this.expiryTimer);
    this.willTimer = undefined;
    this.expiryTimer = undefined;
  }

  /** A session that outlives its connection must be kept (and stored). */
  get persistent(): boolean {
    return this.expiryInterval > 0;
  }

  get online(): boolean {
    return this.link !== null;
  }

  /** Next delivery sequence number (orders the stored outbound entries). */
  nextSeq(): number {
    return this.#nextSeq++;
  }

  /** Restores the counters after loading stored entries. */
  resumeSequence(lastSeq: number): void {
    if (lastSeq >= this.#nextSeq) this.#nextSeq = lastSeq + 1;
  }

  /** A packet identifier not used by any in-flight message, or 0 when all 65535 are taken. */
  allocatePacketId(): number {
    if (this.inflight.size >= 65535) return 0;
    for (;;) {
      const id = this.#nextPacketId;
      this.#nextPacketId = id === 65535 ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
  }

  /** Builds a queued outbound entry (packet id 0 until it is sent). */
  newEntry(message: StoredMessage, qos: QoS, subscriptionIds?: number[]): OutboundEntry {
    const entry: OutboundEntry = { seq: this.nextSeq(), packetId: 0, phase: "publish", qos, message };
    if (subscriptionIds && subscriptionIds.length > 0) entry.subscriptionIds = subscriptionIds;
    return entry;
  }
}
