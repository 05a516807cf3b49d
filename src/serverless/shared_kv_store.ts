/**
 * The KV store as serverless instances share it: no ownership lock (every isolate
 * opens the same KV on purpose), and a start-up load of retained messages only.
 *
 * Sessions are not restored at start because an isolate that restored another
 * isolate's sessions would queue copies of their messages, expire them in KV while
 * their clients are connected elsewhere, and answer "session present" with a stale
 * copy. Each instance writes the sessions it serves, and reads one (`loadSession`)
 * when its client connects there; see docs/deploy.md.
 *
 * @module
 */
import { KvStore, type KvStoreOptions } from "../persistence/kv_store.ts";
import type { StoreSnapshot } from "../persistence/store.ts";

/**
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
export class SharedKvStore extends KvStore {
  constructor(options: Omit<KvStoreOptions, "exclusive"> = {}) {
    super({ ...options, exclusive: false });
  }

  override async load(): Promise<StoreSnapshot> {
    const { retained } = await super.load();
    return { sessions: [], retained };
  }
}
