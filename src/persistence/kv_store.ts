/**
 * The Deno KV store. Mutations from all connections are gathered by a group
 * committer into few `kv.atomic()` writes (one `kv.set` manages ~3.4k/s here,
 * a 100–1000 mutation atomic ~200k keys/s).
 *
 * Every group write is all or nothing (kv_journal.ts): what one packet changes (a
 * QoS 2 PUBLISH's inbound packet id and the messages it queued, say) lands together
 * or not at all, even when the group needs more than one atomic. Any record fits,
 * whatever the size of its fields (kv_records.ts). A group that fails is written
 * again one commit at a time, so that a commit that cannot be written fails alone
 * (group_commit.ts).
 *
 * @module
 */
import { GroupCommitter } from "./group_commit.ts";
import {
  inboundPrefix,
  isChunkKey,
  keyPart,
  LEGACY_LOCK_KEY,
  outboundPrefix,
  retainedKey,
  SCHEMA_KEY,
  SCHEMA_VERSION,
  sessionKey,
  subscriptionPrefix,
} from "./kv_keys.ts";
import { applyAtomically, applyLoose, JournalApplyError, replayJournals } from "./kv_journal.ts";
import { KvLock } from "./kv_lock.ts";
import { migrate } from "./kv_migrate.ts";
import {
  type ChunkRange,
  decodeRecord,
  INLINE_LIMIT,
  keySize,
  type KvOp,
  type PayloadKind,
  rangeOf,
  sizeBound,
} from "./kv_records.ts";
import { keyString, WritePlan } from "./kv_write_plan.ts";
import type {
  LoadedSession,
  Mutation,
  OutboundEntry,
  SnapshotStore,
  StoredMessage,
  StoredSession,
  StoreSnapshot,
} from "./store.ts";

/**
 * Where a {@link KvStore} keeps its state and how it groups writes.
 *
 * @example
 * ```ts
 * import { KvStore, type KvStoreOptions } from "../mod.ts";
 * const dir = await Deno.makeTempDir();
 * const options: KvStoreOptions = { path: `${dir}/broker.kv`, commitWindowMs: 2 };
 * const store = new KvStore(options);
 * await store.open();
 * await store.close();
 * ```
 */
export interface KvStoreOptions {
  /** KV file; undefined opens the platform default (e.g. on Deno Deploy). */
  path?: string;
  /** Extra group-commit wait in ms (default 0: write at the end of the turn). */
  commitWindowMs?: number;
  /** Mutations that trigger an immediate write (default 500). */
  maxBatchMutations?: number;
  /** An already opened KV (tests, embedding). */
  kv?: Deno.Kv;
  /**
   * Take the lock that keeps a second broker off the file (default true). False for
   * broker instances that share one KV on purpose (serverless isolates): each then
   * writes only the sessions it serves.
   */
  exclusive?: boolean;
}

/** How long a shared store keeps trying to open a file another instance is opening. */
const SHARED_OPEN_RETRY_MS = 2000;

/**
 * Opens the KV file. SQLite answers "database is locked" to an open that meets another
 * open of the same new file; instances sharing one file (serverless isolates) all open it
 * at start, so a shared open tries again for a while, backing off. An exclusive store has
 * taken the file lock first: nobody else can be opening it, and an error is final.
 */
async function openKvFile(path: string | undefined, shared: boolean): Promise<Deno.Kv> {
  const deadline = Date.now() + SHARED_OPEN_RETRY_MS;
  for (let pause = 5;; pause = Math.min(pause * 2, 100)) {
    try {
      return await Deno.openKv(path);
    } catch (err) {
      const busy = /database is locked/.test((err as Error).message);
      if (!shared || !busy || Date.now() + pause > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

/**
 * Broker state in Deno KV, for one broker (a lock keeps a second process off the file):
 * everything is restored at start. Writes are grouped into few atomic commits.
 *
 * @example
 * ```ts
 * import { Broker, KvStore } from "../mod.ts";
 * const dir = await Deno.makeTempDir();
 * const broker = new Broker({ store: new KvStore({ path: `${dir}/broker.kv` }), durability: "durable" });
 * await broker.start();
 * await broker.close();
 * ```
 */
export class KvStore implements SnapshotStore {
  readonly durable = true;
  readonly #options: KvStoreOptions;
  #kv: Deno.Kv | undefined;
  #lock: KvLock | undefined;
  /** Chunk ranges of stored records, so that overwrites never reuse live chunks and deletes leave none. */
  readonly #ranges = new Map<string, ChunkRange>();
  readonly #committer: GroupCommitter<Mutation>;
  /** Set when a committed write could not be applied: no further write may overtake its replay. */
  #broken: Error | undefined;
  /** Number of kv.atomic() commits performed (for tests and metrics). */
  atomics = 0;

  /** A store on the KV file `options.path` (opened by {@link KvStore.open}). */
  constructor(options: KvStoreOptions = {}) {
    this.#options = options;
    this.#committer = new GroupCommitter((m) => this.#write(m), {
      windowMs: options.commitWindowMs ?? 0,
      maxItems: options.maxBatchMutations ?? 500,
      // Nothing of a failed group was applied (unless it broke the store): retried alone,
      // each commit succeeds or fails on its own.
      retryAlone: (err) => !(err instanceof JournalApplyError),
    });
  }

  /** Number of group writes (each one or more atomics). */
  get groupWrites(): number {
    return this.#committer.writes;
  }

  get #exclusive(): boolean {
    return this.#options.exclusive !== false;
  }

  async open(): Promise<void> {
    const path = this.#options.path;
    if (this.#options.kv) {
      this.#kv = this.#options.kv;
    } else {
      if (path) await Deno.mkdir(path.replace(/\/[^/]*$/, "") || ".", { recursive: true }).catch(() => {});
      // The lock comes before the database is touched: a second process never opens it.
      if (path && this.#exclusive) this.#lock = await KvLock.acquire(path);
      try {
        this.#kv = await openKvFile(path, !this.#exclusive);
      } catch (err) {
        this.#lock?.release();
        throw new Error(`cannot open the Deno KV store ${path ?? "(default)"}: ${(err as Error).message}`);
      }
    }
    try {
      await this.#prepare(this.#kv, path);
    } catch (err) {
      this.#lock?.release();
      throw err;
    }
  }

  /** Schema check, the replay of writes a crash interrupted, and migration. */
  async #prepare(kv: Deno.Kv, path: string | undefined): Promise<void> {
    if (this.#lock !== undefined) await kv.delete(LEGACY_LOCK_KEY);
    const schema = await kv.get<number>(SCHEMA_KEY);
    if (schema.value !== null && schema.value > SCHEMA_VERSION) {
      throw new Error(
        `${path}: store schema version ${schema.value} is newer than this broker supports (${SCHEMA_VERSION}); upgrade the broker`,
      );
    }
    // Only the owner replays: with a shared KV the writer of a journal may still be applying it.
    if (this.#exclusive) await replayJournals(kv);
    if (schema.value === null) await kv.set(SCHEMA_KEY, SCHEMA_VERSION);
    else if (schema.value < SCHEMA_VERSION) await migrate(kv, schema.value, SCHEMA_VERSION);
  }

  commit(mutations: Mutation[]): Promise<void> {
    if (mutations.length === 0) return Promise.resolve();
    return this.#committer.submit(mutations);
  }

  async close(): Promise<void> {
    await this.#committer.drain();
    if (!this.#options.kv) this.#kv?.close();
    this.#kv = undefined;
    this.#lock?.release();
    this.#lock = undefined;
  }

  /** Plans the mutations (in order), writes fresh chunks, then everything else at once. */
  async #write(mutations: Mutation[]): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined) throw new Error("KV store is closed");
    if (this.#broken !== undefined) throw this.#broken;
    const plan = new WritePlan(this.#ranges);
    for (const m of mutations) await this.#expand(m, plan);
    const counted = () => this.atomics++;
    await applyLoose(kv, plan.chunks, counted);
    try {
      await applyAtomically(kv, plan.records, counted);
    } catch (err) {
      if (err instanceof JournalApplyError) this.#broken = err;
      throw err;
    }
    plan.settle(this.#ranges);
  }

  async #expand(m: Mutation, plan: WritePlan): Promise<void> {
    switch (m.kind) {
      case "putSession":
        return await this.#put(plan, await sessionKey(m.session.clientId), "s", m.session);
      case "deleteSession":
        return await this.#deleteClient(m.clientId, plan);
      case "putSubscription": {
        const key = [...await subscriptionPrefix(m.clientId), await keyPart(m.subscription.filter)];
        return await this.#put(plan, key, null, m.subscription);
      }
      case "deleteSubscription":
        return this.#delete(plan, [...await subscriptionPrefix(m.clientId), await keyPart(m.filter)]);
      case "putOutbound":
        return await this.#put(plan, [...await outboundPrefix(m.clientId), m.entry.seq], "out", m.entry);
      case "deleteOutbound":
        return this.#delete(plan, [...await outboundPrefix(m.clientId), m.seq]);
      case "putInbound":
        return await this.#put(plan, [...await inboundPrefix(m.clientId), m.packetId], null, true);
      case "deleteInbound":
        return this.#delete(plan, [...await inboundPrefix(m.clientId), m.packetId]);
      case "putRetained":
        return await this.#put(plan, await retainedKey(m.message.topic), "r", m.message);
      case "deleteRetained":
        return this.#delete(plan, await retainedKey(m.topic));
    }
  }

  /**
   * Stores a record. In a KV shared with other writers (serverless), a record that needs
   * chunks first reads the stored version's range, which another instance may have written,
   * so that its chunks land at fresh indices; records that fit inline cost no read (an older
   * chunked version's chunks are then left unreferenced, and ignored by loading).
   */
  async #put(plan: WritePlan, key: Deno.KvKey, kind: PayloadKind | null, value: unknown): Promise<void> {
    let stored: ChunkRange | undefined;
    if (!this.#exclusive && !plan.knows(keyString(key)) && sizeBound(value) + keySize(key) > INLINE_LIMIT) {
      stored = rangeOf((await this.#kv!.get(key)).value);
    }
    plan.put(key, kind, value, stored);
  }

  #delete(plan: WritePlan, key: Deno.KvKey): void {
    plan.delete(key);
  }

  /** A session and everything under it, including what was planned for it earlier in this write. */
  async #deleteClient(clientId: string, plan: WritePlan): Promise<void> {
    const session = await sessionKey(clientId);
    const prefixes = [
      await subscriptionPrefix(clientId),
      await outboundPrefix(clientId),
      await inboundPrefix(clientId),
      session,
    ];
    plan.cancelUnder(prefixes);
    for (const prefix of prefixes) {
      for await (const entry of this.#kv!.list({ prefix })) {
        plan.deleteListed(entry.key, !isChunkKey(entry.key));
      }
    }
    plan.delete(session);
  }

  load(): Promise<StoreSnapshot> {
    return this.#read(["s", "sub", "out", "in", "r"].map((kind) => [kind]), [], this.#exclusive);
  }

  /**
   * One client's session with its subscriptions, queue and inbound QoS 2 ids, or
   * undefined when none is stored: for broker instances that share one KV and take a
   * session over from another (serverless isolates: SharedKvStore).
   */
  async loadSession(clientId: string): Promise<LoadedSession | undefined> {
    const key = await sessionKey(clientId);
    const record = await this.#kv!.get(key);
    if (record.value === null) return undefined;
    const part = key[1];
    const { sessions } = await this.#read([key, ["sub", part], ["out", part], ["in", part]], [record], false);
    return sessions[0];
  }

  /** The retained messages alone (serverless isolates load these at start, and no session). */
  async loadRetained(): Promise<StoredMessage[]> {
    return (await this.#read([["r"]], [], false)).retained;
  }

  /**
   * Reads the records under `prefixes` (plus `extra` entries) and puts them together as
   * a snapshot. `tidy`: delete chunks no record refers to (left by a crash before their
   * record was written, or by another writer), when this instance owns the store.
   */
  async #read(
    prefixes: Deno.KvKey[],
    extra: Deno.KvEntryMaybe<unknown>[],
    tidy: boolean,
  ): Promise<StoreSnapshot> {
    const records = new Map<string, { key: Deno.KvKey; value: unknown }>();
    const chunks = new Map<string, Map<number, Uint8Array>>();
    for (const entry of extra) records.set(keyString(entry.key), { key: entry.key, value: entry.value });
    for (const prefix of prefixes) {
      for await (const entry of this.#kv!.list({ prefix })) {
        if (!isChunkKey(entry.key)) {
          records.set(keyString(entry.key), { key: entry.key, value: entry.value });
          continue;
        }
        const owner = keyString(entry.key.slice(0, -2));
        const parts = chunks.get(owner) ?? new Map<number, Uint8Array>();
        parts.set(entry.key[entry.key.length - 1] as number, entry.value as Uint8Array);
        chunks.set(owner, parts);
      }
    }
    const snapshot = this.#assemble(records, chunks);
    if (tidy) await this.#dropUnreferenced(records, chunks);
    return snapshot;
  }

  /** Sessions with what they own, and retained messages, from raw records. */
  #assemble(
    records: Map<string, { key: Deno.KvKey; value: unknown }>,
    chunks: Map<string, Map<number, Uint8Array>>,
  ): StoreSnapshot {
    const sessions = new Map<string, LoadedSession>();
    const byPart = new Map<string, LoadedSession>();
    const retained: StoredMessage[] = [];
    const pending: { kind: string; part: string; value: unknown }[] = [];
    for (const [id, { key, value }] of records) {
      const kind = key[0] as string;
      const range = rangeOf(value);
      if (range !== undefined) this.#ranges.set(id, range);
      const v = decodeRecord(kind, value, chunks.get(id));
      if (v === undefined) continue; // a chunk it refers to is missing: nothing usable
      if (kind === "s") {
        const loaded: LoadedSession = {
          session: v as StoredSession,
          subscriptions: [],
          outbound: [],
          inbound: [],
        };
        sessions.set(loaded.session.clientId, loaded);
        byPart.set(key[1] as string, loaded);
      } else if (kind === "r") {
        retained.push(v as StoredMessage);
      } else {
        pending.push({ kind, part: key[1] as string, value: kind === "in" ? key[2] : v });
      }
    }
    for (const { kind, part, value } of pending) {
      const loaded = byPart.get(part);
      if (loaded === undefined) continue; // state of a session that no longer exists
      if (kind === "sub") loaded.subscriptions.push(value as LoadedSession["subscriptions"][0]);
      else if (kind === "out") loaded.outbound.push(value as OutboundEntry);
      else loaded.inbound.push(value as number);
    }
    for (const loaded of sessions.values()) loaded.outbound.sort((a, b) => a.seq - b.seq);
    return { sessions: [...sessions.values()], retained };
  }

  /** Deletes chunks outside the range their record refers to (or with no record at all). */
  async #dropUnreferenced(
    records: Map<string, { key: Deno.KvKey; value: unknown }>,
    chunks: Map<string, Map<number, Uint8Array>>,
  ): Promise<void> {
    const garbage: KvOp[] = [];
    for (const [owner, parts] of chunks) {
      const range = rangeOf(records.get(owner)?.value);
      const ownerKey = JSON.parse(owner) as Deno.KvKey;
      for (const i of parts.keys()) {
        if (range !== undefined && i >= range.base && i < range.base + range.count) continue;
        const key = [...ownerKey, "chunk", i];
        garbage.push({ key, value: null, size: keySize(key) });
      }
    }
    await applyLoose(this.#kv!, garbage);
  }
}
