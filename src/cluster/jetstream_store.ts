/**
 * The project's store on JetStream KV, shared by every node: sessions (with their
 * subscriptions, queued and in-flight messages, inbound QoS 2 ids) in one bucket and
 * retained messages in another. A ClaimingStore: nothing is restored from it at start.
 * A node holds only the sessions of clients that connect to it, and claims each one
 * from the bucket on CONNECT ({@link JetStreamStore.loadSession}); every node follows
 * the retained bucket with a watcher (cluster.ts).
 *
 * Key schema (every part escaped with the subject mapping, so any client id or topic fits):
 * `s.<client>` session · `sub.<client>.<filter>` · `out.<client>.<seq>` · `in.<client>.<packet id>`
 * in the sessions bucket; `<topic tokens>` in the retained bucket.
 *
 * @module
 */
import type { JetStreamManager, KV } from "nats";
import { eraseKey, listKeys } from "./bucket_keys.ts";
import { GroupCommitter } from "../persistence/group_commit.ts";
import { isSystemTopic } from "../protocol/topic.ts";
import type {
  ClaimingStore,
  LoadedSession,
  Mutation,
  OutboundEntry,
  StoredMessage,
  StoredSession,
  StoredSubscription,
} from "../persistence/store.ts";
import { retryTransient } from "./nats_retry.ts";
import { decodeRecord, encodeRecord } from "./record_codec.ts";
import { escapeLevel, topicToTokens } from "./subject_mapping.ts";

/** The KV key of each kind of record. */
export const sessionKeys = {
  session: (clientId: string) => `s.${escapeLevel(clientId)}`,
  subscription: (clientId: string, filter: string) => `sub.${escapeLevel(clientId)}.${escapeLevel(filter)}`,
  outbound: (clientId: string, seq: number) => `out.${escapeLevel(clientId)}.${seq}`,
  inbound: (clientId: string, packetId: number) => `in.${escapeLevel(clientId)}.${packetId}`,
  /** Wildcard keys of everything under a session. */
  children: (clientId: string) => ["sub", "out", "in"].map((kind) => `${kind}.${escapeLevel(clientId)}.*`),
} as const;

/**
 * The buckets a {@link JetStreamStore} writes to (a ClusterNode makes them).
 *
 * @example
 * ```ts ignore
 * import { connect } from "nats";
 * import { JetStreamStore } from "../cluster_mod.ts";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * const js = nc.jetstream();
 * const store = new JetStreamStore({
 *   sessions: await js.views.kv("mqtt_sessions", { history: 1, allow_direct: false }),
 *   retained: await js.views.kv("mqtt_retained", { history: 1 }),
 *   jsm: await nc.jetstreamManager(),
 *   sessionsBucket: "mqtt_sessions",
 * });
 * await store.close();
 * await nc.close();
 * ```
 */
export interface JetStreamStoreOptions {
  /** Sessions with their subscriptions, queues and inbound QoS 2 ids, and the owner records. */
  sessions: KV;
  /** Retained messages, one key per topic. */
  retained: KV;
  /** Lists and erases session keys through the bucket's stream leader (bucket_keys.ts). */
  jsm: JetStreamManager;
  /** The sessions bucket's name. */
  sessionsBucket: string;
  /**
   * Runs before a group of writes that deletes queued messages, and the deletes wait for it:
   * the node records how far its routing is stored (see docs/cluster.md, "Node failure").
   */
  beforeDeletes?: () => Promise<void>;
  /** Whether to keep retrying (false once the NATS connection is closed). */
  connected?: () => boolean;
  /** Told about each write retried through a NATS fault. */
  onRetry?: (err: unknown) => void;
}

/**
 * The store the nodes of a cluster share, on JetStream KV: a ClaimingStore (see the
 * module comment). A {@link ClusterNode} builds one; give it to the node's broker.
 *
 * @example
 * ```ts ignore
 * import { Broker } from "../mod.ts";
 * import { ClusterNode } from "../cluster_mod.ts";
 * const node = await ClusterNode.connect({ servers: ["nats://127.0.0.1:4222"], nodeId: "n1" });
 * const broker = new Broker({ store: node.store });
 * await broker.start();
 * await broker.close();
 * await node.close();
 * ```
 */
export class JetStreamStore implements ClaimingStore {
  /** Stored by JetStream: a QoS 1/2 acknowledgement waits for it. */
  readonly durable = true;
  readonly #sessions: KV;
  readonly #retained: KV;
  readonly #committer: GroupCommitter<Mutation>;
  readonly #options: JetStreamStoreOptions;
  /** Groups of writes that failed for good (after retrying); routing can no longer be called stored. */
  failures = 0;

  /** A store on the buckets of `options`. */
  constructor(options: JetStreamStoreOptions) {
    this.#options = options;
    this.#sessions = options.sessions;
    this.#retained = options.retained;
    // Serialised group writes: a later commit never overtakes an earlier one on the same key.
    this.#committer = new GroupCommitter((m) => this.#write(m), { windowMs: 0, maxItems: 500 });
  }

  /** The buckets are opened by the cluster node that builds the store: nothing to open here. */
  async open(): Promise<void> {}

  commit(mutations: Mutation[]): Promise<void> {
    if (mutations.length === 0) return Promise.resolve();
    return this.#committer.submit(mutations);
  }

  async close(): Promise<void> {
    await this.#committer.drain();
  }

  /** The session record alone (no subscriptions or messages), or undefined when none is stored. */
  sessionRecord(clientId: string): Promise<StoredSession | undefined> {
    return retryTransient(async () => {
      const entry = await this.#sessions.get(sessionKeys.session(clientId));
      if (entry === null || entry.operation !== "PUT") return undefined;
      return decodeRecord<StoredSession>(entry.value);
    }, this.#retry);
  }

  /** Everything a session owns, or undefined when the bucket has no such session. */
  loadSession(clientId: string): Promise<LoadedSession | undefined> {
    return retryTransient(() => this.#loadSession(clientId), this.#retry);
  }

  get #retry() {
    return {
      abandoned: () => this.#options.connected?.() === false,
      onRetry: (err: unknown) => this.#options.onRetry?.(err),
    };
  }

  async #loadSession(clientId: string): Promise<LoadedSession | undefined> {
    const kv = this.#sessions;
    const entry = await kv.get(sessionKeys.session(clientId));
    if (entry === null || entry.operation !== "PUT") return undefined;
    const loaded: LoadedSession = {
      session: decodeRecord<StoredSession>(entry.value),
      subscriptions: [],
      outbound: [],
      inbound: [],
    };
    const keys = await this.#keys(sessionKeys.children(clientId));
    const values = await Promise.all(keys.map((key) => kv.get(key)));
    values.forEach((value, i) => {
      if (value === null || value.operation !== "PUT") return;
      const kind = keys[i].slice(0, keys[i].indexOf("."));
      if (kind === "sub") loaded.subscriptions.push(decodeRecord<StoredSubscription>(value.value));
      else if (kind === "out") loaded.outbound.push(decodeRecord<OutboundEntry>(value.value));
      else loaded.inbound.push(Number(keys[i].slice(keys[i].lastIndexOf(".") + 1)));
    });
    loaded.outbound.sort((a, b) => a.seq - b.seq);
    return loaded;
  }

  #keys(filters: string[]): Promise<string[]> {
    const { jsm, sessionsBucket } = this.#options;
    return retryTransient(async () => {
      const lists = await Promise.all(filters.map((filter) => listKeys(jsm, sessionsBucket, filter)));
      return lists.flat();
    }, this.#retry);
  }

  /**
   * One group of mutations: only the last operation on each key is written, then all
   * of them at once (different keys, so their order does not matter).
   */
  async #write(mutations: Mutation[]): Promise<void> {
    try {
      await this.#writeOnce(mutations);
    } catch (err) {
      this.failures++;
      throw err;
    }
  }

  async #writeOnce(mutations: Mutation[]): Promise<void> {
    const sessionOps = new Map<string, Uint8Array | null>();
    const retainedOps = new Map<string, Uint8Array | null>();
    let deletesQueued = false;
    for (const m of mutations) {
      switch (m.kind) {
        case "putSession":
          sessionOps.set(sessionKeys.session(m.session.clientId), encodeRecord(m.session));
          break;
        case "deleteSession":
          await this.#deleteClient(m.clientId, sessionOps);
          break;
        case "putSubscription":
          sessionOps.set(
            sessionKeys.subscription(m.clientId, m.subscription.filter),
            encodeRecord(m.subscription),
          );
          break;
        case "deleteSubscription":
          sessionOps.set(sessionKeys.subscription(m.clientId, m.filter), null);
          break;
        case "putOutbound":
          sessionOps.set(sessionKeys.outbound(m.clientId, m.entry.seq), encodeRecord(m.entry));
          break;
        case "deleteOutbound":
          sessionOps.set(sessionKeys.outbound(m.clientId, m.seq), null);
          deletesQueued = true;
          break;
        case "putInbound":
          sessionOps.set(sessionKeys.inbound(m.clientId, m.packetId), encodeRecord(true));
          break;
        case "deleteInbound":
          sessionOps.set(sessionKeys.inbound(m.clientId, m.packetId), null);
          break;
        // "$" topics ($SYS) describe one node: shared, every node would overwrite the others' figures.
        case "putRetained":
          if (!isSystemTopic(m.message.topic)) {
            retainedOps.set(topicToTokens(m.message.topic), encodeRecord(m.message));
          }
          break;
        case "deleteRetained":
          if (!isSystemTopic(m.topic)) retainedOps.set(topicToTokens(m.topic), null);
          break;
      }
    }
    // A message delivered and deleted must never be replayed after this node dies: the point up to
    // which its routing is stored is recorded before any such delete.
    if (deletesQueued && this.#options.beforeDeletes) await this.#options.beforeDeletes();
    const { jsm, sessionsBucket } = this.#options;
    // A session's deleted keys are erased, not left as tombstones (see bucket_keys.ts); retained
    // deletions stay tombstones, which the other nodes' watchers follow.
    await Promise.all([
      this.#apply(
        sessionOps,
        (key, value) => value === null ? eraseKey(jsm, sessionsBucket, key) : this.#sessions.put(key, value),
      ),
      this.#apply(
        retainedOps,
        (key, value) => value === null ? this.#retained.delete(key) : this.#retained.put(key, value),
      ),
    ]);
  }

  /** Puts and deletes (different keys, so in parallel), each retried through a NATS fault. */
  async #apply(
    ops: Map<string, Uint8Array | null>,
    write: (key: string, value: Uint8Array | null) => Promise<unknown>,
  ): Promise<void> {
    const retry = this.#retry;
    await Promise.all([...ops].map(([key, value]) => retryTransient(() => write(key, value), retry)));
  }

  /** Deletes a session's keys, including puts queued earlier in this group. */
  async #deleteClient(clientId: string, ops: Map<string, Uint8Array | null>): Promise<void> {
    const mine = sessionKeys.children(clientId).map((filter) => filter.slice(0, -1));
    for (const key of ops.keys()) if (mine.some((prefix) => key.startsWith(prefix))) ops.set(key, null);
    for (const key of await this.#keys(sessionKeys.children(clientId))) ops.set(key, null);
    ops.set(sessionKeys.session(clientId), null);
  }
}

/** A retained message from its KV entry bytes. */
export function decodeRetained(bytes: Uint8Array): StoredMessage {
  return decodeRecord<StoredMessage>(bytes);
}
