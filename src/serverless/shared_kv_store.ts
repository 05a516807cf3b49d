/**
 * The KV store as serverless instances share it: no ownership lock (every isolate
 * opens the same KV on purpose), and a ClaimingStore: nothing is restored at start.
 *
 * Sessions are not restored at start because an isolate that restored another
 * isolate's sessions would queue copies of their messages, expire them in KV while
 * their clients are connected elsewhere, and answer "session present" with a stale
 * copy. Each instance writes the sessions it serves, and reads one (`loadSession`)
 * when its client connects there; the retained messages reach it through its
 * BroadcastBridge, which loads them at start (`loadRetained`); see docs/deploy.md.
 *
 * @module
 */
import { KvStore, type KvStoreOptions } from "../persistence/kv_store.ts";
import type { ClaimingStore, LoadedSession, Mutation, StoredMessage } from "../persistence/store.ts";

/**
 * One Deno KV shared by the serverless instances of a broker.
 *
 * @example
 * ```ts
 * import { SharedKvStore } from "./shared_kv_store.ts";
 * const dir = await Deno.makeTempDir();
 * const a = new SharedKvStore({ path: `${dir}/shared.kv` });
 * const b = new SharedKvStore({ path: `${dir}/shared.kv` }); // no "in use by another broker" here
 * await a.open();
 * await b.open();
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export class SharedKvStore implements ClaimingStore {
  readonly durable = true;
  readonly #kv: KvStore;

  /** The KV file (or an opened KV) and its group-commit settings; it is never locked. */
  constructor(options: Omit<KvStoreOptions, "exclusive"> = {}) {
    this.#kv = new KvStore({ ...options, exclusive: false });
  }

  /** Opens the KV (shared: no lock is taken). */
  open(): Promise<void> {
    return this.#kv.open();
  }

  /** Writes this instance's changes, grouped into few atomic commits. */
  commit(mutations: Mutation[]): Promise<void> {
    return this.#kv.commit(mutations);
  }

  /** Flushes pending commits and closes the KV. */
  close(): Promise<void> {
    return this.#kv.close();
  }

  /** One client's session, as the instance that served it last left it. */
  loadSession(clientId: string): Promise<LoadedSession | undefined> {
    return this.#kv.loadSession(clientId);
  }

  /** Every retained message, for an instance that starts. */
  loadRetained(): Promise<StoredMessage[]> {
    return this.#kv.loadRetained();
  }
}
