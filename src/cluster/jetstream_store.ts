/**
 * The project's Store on JetStream KV, shared by every node: sessions (with their
 * subscriptions, queued and in-flight messages, inbound QoS 2 ids) in one bucket and
 * retained messages in another. Unlike the Deno KV store, load() returns no sessions:
 * a node holds only the sessions of clients that connect to it, and claims each one
 * from the bucket on CONNECT ({@link JetStreamStore.loadSession}).
 *
 * Key schema (every part escaped with the subject mapping, so any client id or topic fits):
 * `s.<client>` session · `sub.<client>.<filter>` · `out.<client>.<seq>` · `in.<client>.<packet id>`
 * in the sessions bucket; `<topic tokens>` in the retained bucket.
 *
 * @module
 */
import type { KV } from "nats";
import { GroupCommitter } from "../persistence/group_commit.ts";
import type {
  LoadedSession,
  Mutation,
  OutboundEntry,
  Store,
  StoredMessage,
  StoredSession,
  StoredSubscription,
  StoreSnapshot,
} from "../persistence/store.ts";
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

export interface JetStreamStoreOptions {
  sessions: KV;
  retained: KV;
}

export class JetStreamStore implements Store {
  readonly durable = true;
  readonly #sessions: KV;
  readonly #retained: KV;
  readonly #committer: GroupCommitter<Mutation>;

  constructor(options: JetStreamStoreOptions) {
    this.#sessions = options.sessions;
    this.#retained = options.retained;
    // Serialised group writes: a later commit never overtakes an earlier one on the same key.
    this.#committer = new GroupCommitter((m) => this.#write(m), { windowMs: 0, maxItems: 500 });
  }

  async open(): Promise<void> {}

  /** Retained messages come from the cluster's watcher; sessions are claimed on CONNECT. */
  load(): Promise<StoreSnapshot> {
    return Promise.resolve({ sessions: [], retained: [] });
  }

  commit(mutations: Mutation[]): Promise<void> {
    if (mutations.length === 0) return Promise.resolve();
    return this.#committer.submit(mutations);
  }

  async close(): Promise<void> {
    await this.#committer.drain();
  }

  /** The session record alone (no subscriptions or messages), or undefined when none is stored. */
  async sessionRecord(clientId: string): Promise<StoredSession | undefined> {
    const entry = await this.#sessions.get(sessionKeys.session(clientId));
    if (entry === null || entry.operation !== "PUT") return undefined;
    return decodeRecord<StoredSession>(entry.value);
  }

  /** Everything a session owns, or undefined when the bucket has no such session. */
  async loadSession(clientId: string): Promise<LoadedSession | undefined> {
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

  async #keys(filters: string[]): Promise<string[]> {
    const out: string[] = [];
    // One filter per call: JetStream before 2.10 accepts a single filter subject.
    for (const filter of filters) {
      for await (const key of await this.#sessions.keys(filter)) out.push(key);
    }
    return out;
  }

  /**
   * One group of mutations: only the last operation on each key is written, then all
   * of them at once (different keys, so their order does not matter).
   */
  async #write(mutations: Mutation[]): Promise<void> {
    const sessionOps = new Map<string, Uint8Array | null>();
    const retainedOps = new Map<string, Uint8Array | null>();
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
          break;
        case "putInbound":
          sessionOps.set(sessionKeys.inbound(m.clientId, m.packetId), encodeRecord(true));
          break;
        case "deleteInbound":
          sessionOps.set(sessionKeys.inbound(m.clientId, m.packetId), null);
          break;
        // "$" topics ($SYS) describe one node: shared, every node would overwrite the others' figures.
        case "putRetained":
          if (!isNodeLocal(m.message.topic)) {
            retainedOps.set(topicToTokens(m.message.topic), encodeRecord(m.message));
          }
          break;
        case "deleteRetained":
          if (!isNodeLocal(m.topic)) retainedOps.set(topicToTokens(m.topic), null);
          break;
      }
    }
    await Promise.all([apply(this.#sessions, sessionOps), apply(this.#retained, retainedOps)]);
  }

  /** Deletes a session's keys, including puts queued earlier in this group. */
  async #deleteClient(clientId: string, ops: Map<string, Uint8Array | null>): Promise<void> {
    const mine = sessionKeys.children(clientId).map((filter) => filter.slice(0, -1));
    for (const key of ops.keys()) if (mine.some((prefix) => key.startsWith(prefix))) ops.set(key, null);
    for (const key of await this.#keys(sessionKeys.children(clientId))) ops.set(key, null);
    ops.set(sessionKeys.session(clientId), null);
  }
}

const isNodeLocal = (topic: string) => topic.charCodeAt(0) === 0x24;

async function apply(kv: KV, ops: Map<string, Uint8Array | null>): Promise<void> {
  const pending: Promise<unknown>[] = [];
  for (const [key, value] of ops) pending.push(value === null ? kv.delete(key) : kv.put(key, value));
  await Promise.all(pending);
}

/** A retained message from its KV entry bytes. */
export function decodeRetained(bytes: Uint8Array): StoredMessage {
  return decodeRecord<StoredMessage>(bytes);
}
