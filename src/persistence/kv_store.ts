/**
 * The Deno KV store. Mutations from all connections are gathered by a group
 * committer into few `kv.atomic()` writes (one `kv.set` manages ~3.4k/s here,
 * a 100–1000 mutation atomic ~200k keys/s). Large payloads are split in chunks
 * (values ≤ 64 KiB); atomics stay under 1000 mutations and 800 KiB.
 *
 * @module
 */
import { GroupCommitter } from "./group_commit.ts";
import {
  CHUNK_SIZE,
  chunkKey,
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
import { KvLock } from "./kv_lock.ts";
import { migrate } from "./kv_migrate.ts";
import type {
  LoadedSession,
  Mutation,
  OutboundEntry,
  Store,
  StoredMessage,
  StoredSession,
  StoreSnapshot,
} from "./store.ts";

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

const MAX_ATOMIC_MUTATIONS = 1000;
const MAX_ATOMIC_BYTES = 780 * 1024;
const EMPTY = new Uint8Array(0);

/** One key-level operation (null value = delete). */
interface Op {
  key: Deno.KvKey;
  value: unknown;
  size: number;
}

type Kind = "s" | "out" | "r";

/** Where the payload lives in each kind of record. */
function getPayload(kind: Kind, value: unknown): Uint8Array | undefined {
  if (kind === "r") return (value as StoredMessage).payload;
  if (kind === "out") return (value as OutboundEntry).message.payload;
  return (value as StoredSession).will?.message.payload;
}

function withPayload(kind: Kind, value: unknown, payload: Uint8Array): unknown {
  if (kind === "r") return { ...(value as StoredMessage), payload };
  if (kind === "out") {
    const e = value as OutboundEntry;
    return { ...e, message: { ...e.message, payload } };
  }
  const s = value as StoredSession;
  return { ...s, will: { ...s.will!, message: { ...s.will!.message, payload } } };
}

const keyString = (key: Deno.KvKey) => JSON.stringify(key);

/**
 * @example
 * ```ts
 * import { Broker, KvStore } from "../mod.ts";
 * const dir = await Deno.makeTempDir();
 * const broker = new Broker({ store: new KvStore({ path: `${dir}/broker.kv` }), durability: "durable" });
 * await broker.start();
 * await broker.close();
 * ```
 */
export class KvStore implements Store {
  readonly durable = true;
  readonly #options: KvStoreOptions;
  #kv: Deno.Kv | undefined;
  #lock: KvLock | undefined;
  /** Chunk counts of stored records, so deletes and overwrites leave no orphan chunks. */
  readonly #chunks = new Map<string, number>();
  readonly #committer: GroupCommitter<Mutation>;
  /** Number of kv.atomic() commits performed (for tests and metrics). */
  atomics = 0;

  constructor(options: KvStoreOptions = {}) {
    this.#options = options;
    this.#committer = new GroupCommitter((m) => this.#write(m), {
      windowMs: options.commitWindowMs ?? 0,
      maxItems: options.maxBatchMutations ?? 500,
    });
  }

  /** Number of group writes (each one or more atomics). */
  get groupWrites(): number {
    return this.#committer.writes;
  }

  async open(): Promise<void> {
    const path = this.#options.path;
    if (this.#options.kv) {
      this.#kv = this.#options.kv;
    } else {
      if (path) await Deno.mkdir(path.replace(/\/[^/]*$/, "") || ".", { recursive: true }).catch(() => {});
      // The lock comes before the database is touched: a second process never opens it.
      if (path && this.#options.exclusive !== false) this.#lock = await KvLock.acquire(path);
      try {
        this.#kv = await Deno.openKv(path);
      } catch (err) {
        this.#lock?.release();
        throw new Error(`cannot open the Deno KV store ${path ?? "(default)"}: ${(err as Error).message}`);
      }
    }
    const kv = this.#kv;
    if (this.#lock !== undefined) await kv.delete(LEGACY_LOCK_KEY);
    const schema = await kv.get<number>(SCHEMA_KEY);
    if (schema.value === null) await kv.set(SCHEMA_KEY, SCHEMA_VERSION);
    else if (schema.value < SCHEMA_VERSION) await migrate(kv, schema.value, SCHEMA_VERSION);
    else if (schema.value > SCHEMA_VERSION) {
      this.#lock?.release();
      throw new Error(
        `${path}: store schema version ${schema.value} is newer than this broker supports (${SCHEMA_VERSION}); upgrade the broker`,
      );
    }
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

  /** Turns mutations into key operations (in order) and writes them in as few atomics as allowed. */
  async #write(mutations: Mutation[]): Promise<void> {
    const ops: Op[] = [];
    for (const m of mutations) await this.#expand(m, ops);
    await this.#apply(ops);
  }

  async #expand(m: Mutation, ops: Op[]): Promise<void> {
    switch (m.kind) {
      case "putSession":
        return this.#put(await sessionKey(m.session.clientId), "s", m.session, ops);
      case "deleteSession":
        return await this.#deleteClient(m.clientId, ops);
      case "putSubscription":
        return this.#put(
          [...await subscriptionPrefix(m.clientId), await keyPart(m.subscription.filter)],
          null,
          m.subscription,
          ops,
        );
      case "deleteSubscription":
        return this.#delete([...await subscriptionPrefix(m.clientId), await keyPart(m.filter)], ops);
      case "putOutbound":
        return this.#put([...await outboundPrefix(m.clientId), m.entry.seq], "out", m.entry, ops);
      case "deleteOutbound":
        return this.#delete([...await outboundPrefix(m.clientId), m.seq], ops);
      case "putInbound":
        return this.#put([...await inboundPrefix(m.clientId), m.packetId], null, true, ops);
      case "deleteInbound":
        return this.#delete([...await inboundPrefix(m.clientId), m.packetId], ops);
      case "putRetained":
        return this.#put(await retainedKey(m.message.topic), "r", m.message, ops);
      case "deleteRetained":
        return this.#delete(await retainedKey(m.topic), ops);
    }
  }

  #put(key: Deno.KvKey, kind: Kind | null, value: unknown, ops: Op[]): void {
    const payload = kind ? getPayload(kind, value) : undefined;
    const id = keyString(key);
    const previous = this.#chunks.get(id) ?? 0;
    let count = 0;
    if (payload !== undefined && payload.length > CHUNK_SIZE) {
      count = Math.ceil(payload.length / CHUNK_SIZE);
      // Chunks first, then the record that refers to them: a crash between atomics leaves
      // only unreferenced chunks, which load() ignores.
      for (let i = 0; i < count; i++) {
        const part = payload.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE);
        ops.push({ key: chunkKey(key, i), value: part, size: part.length + 64 });
      }
      value = { ...(withPayload(kind!, value, EMPTY) as object), chunks: count };
    }
    for (let i = count; i < previous; i++) ops.push({ key: chunkKey(key, i), value: null, size: 64 });
    if (count > 0) this.#chunks.set(id, count);
    else this.#chunks.delete(id);
    ops.push({ key, value, size: 256 + (count > 0 ? 0 : (payload?.length ?? 0)) });
  }

  #delete(key: Deno.KvKey, ops: Op[]): void {
    const id = keyString(key);
    const chunks = this.#chunks.get(id) ?? 0;
    for (let i = 0; i < chunks; i++) ops.push({ key: chunkKey(key, i), value: null, size: 64 });
    this.#chunks.delete(id);
    ops.push({ key, value: null, size: 64 });
  }

  /** A session and everything under it, including operations queued earlier in this write. */
  async #deleteClient(clientId: string, ops: Op[]): Promise<void> {
    const kv = this.#kv!;
    const prefixes = [
      await subscriptionPrefix(clientId),
      await outboundPrefix(clientId),
      await inboundPrefix(clientId),
    ];
    for (const prefix of prefixes) {
      for await (const entry of kv.list({ prefix })) ops.push({ key: entry.key, value: null, size: 64 });
    }
    // Puts for this client earlier in the same write are not in KV yet: cancel them too.
    const mine = prefixes.map((p) => keyString(p).slice(0, -1));
    for (const op of ops) {
      const id = keyString(op.key);
      if (op.value !== null && mine.some((p) => id.startsWith(p + ","))) op.value = null;
    }
    for (const id of [...this.#chunks.keys()]) {
      if (mine.some((p) => id.startsWith(p + ","))) this.#chunks.delete(id);
    }
    this.#delete(await sessionKey(clientId), ops);
  }

  async #apply(ops: Op[]): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined) throw new Error("KV store is closed");
    let atomic = kv.atomic();
    let count = 0;
    let bytes = 0;
    const flush = async () => {
      if (count === 0) return;
      const result = await atomic.commit();
      if (!result.ok) throw new Error("KV atomic commit failed");
      this.atomics++;
      atomic = kv.atomic();
      count = 0;
      bytes = 0;
    };
    for (const op of ops) {
      if (count + 1 > MAX_ATOMIC_MUTATIONS || bytes + op.size > MAX_ATOMIC_BYTES) await flush();
      if (op.value === null) atomic.delete(op.key);
      else atomic.set(op.key, op.value);
      count++;
      bytes += op.size;
    }
    await flush();
  }

  load(): Promise<StoreSnapshot> {
    return this.#read(["s", "sub", "out", "in", "r"].map((kind) => [kind]));
  }

  /**
   * One client's session with its subscriptions, queue and inbound QoS 2 ids, or
   * undefined when none is stored: for broker instances that share one KV and take a
   * session over from another (serverless isolates).
   */
  async loadSession(clientId: string): Promise<LoadedSession | undefined> {
    const key = await sessionKey(clientId);
    const record = await this.#kv!.get(key);
    if (record.value === null) return undefined;
    const part = key[1];
    const { sessions } = await this.#read([key, ["sub", part], ["out", part], ["in", part]], [record]);
    return sessions[0];
  }

  /** Reads the records under `prefixes` (plus `extra` entries) and puts them together as a snapshot. */
  async #read(prefixes: Deno.KvKey[], extra: Deno.KvEntryMaybe<unknown>[] = []): Promise<StoreSnapshot> {
    const kv = this.#kv!;
    const records = new Map<string, { key: Deno.KvKey; value: unknown }>();
    const chunks = new Map<string, Uint8Array[]>();
    for (const entry of extra) records.set(keyString(entry.key), { key: entry.key, value: entry.value });
    for (const prefix of prefixes) {
      for await (const entry of kv.list({ prefix })) {
        if (isChunkKey(entry.key)) {
          const owner = keyString(entry.key.slice(0, -2));
          const list = chunks.get(owner) ?? [];
          list[entry.key[entry.key.length - 1] as number] = entry.value as Uint8Array;
          chunks.set(owner, list);
        } else {
          records.set(keyString(entry.key), { key: entry.key, value: entry.value });
        }
      }
    }
    const sessions = new Map<string, LoadedSession>();
    const byPart = new Map<string, LoadedSession>();
    const retained: StoredMessage[] = [];
    const pending: { kind: string; part: string; value: unknown }[] = [];
    for (const [id, { key, value }] of records) {
      const kind = key[0] as string;
      const v = this.#reassemble(id, kind, value, chunks);
      if (kind === "s") {
        const session = v as StoredSession;
        const loaded: LoadedSession = { session, subscriptions: [], outbound: [], inbound: [] };
        sessions.set(session.clientId, loaded);
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

  /** Puts a chunked record's payload back together (and remembers its chunk count). */
  #reassemble(id: string, kind: string, value: unknown, chunks: Map<string, Uint8Array[]>): unknown {
    const count = (value as { chunks?: number }).chunks;
    if (count === undefined || (kind !== "s" && kind !== "out" && kind !== "r")) return value;
    const parts = chunks.get(id) ?? [];
    const size = parts.reduce((n, p) => n + (p?.length ?? 0), 0);
    const payload = new Uint8Array(size);
    let offset = 0;
    for (let i = 0; i < count; i++) {
      payload.set(parts[i], offset);
      offset += parts[i].length;
    }
    this.#chunks.set(id, count);
    const { chunks: _c, ...rest } = value as { chunks: number };
    return withPayload(kind as Kind, rest, payload);
  }
}
