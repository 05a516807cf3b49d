/**
 * A KvStore on a file of its own for one test: opened first, closed and its
 * directory removed however the test ends; and the keys a store wrote, read
 * raw from its file.
 */
import { KvStore, type KvStoreOptions } from "../../src/persistence/kv_store.ts";

/** Runs `fn` with an open KvStore (built with `options`) on `<fresh dir>/broker.kv`, and its path. */
export async function withKvStore(
  fn: (store: KvStore, path: string) => Promise<void>,
  options: Omit<KvStoreOptions, "path"> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kvstore-" });
  const path = `${dir}/broker.kv`;
  const store = new KvStore({ ...options, path });
  await store.open();
  try {
    await fn(store, path);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Every key under `prefix` in the KV file at `path` (no store may hold it exclusively). */
export async function rawKeys(path: string, prefix: Deno.KvKey = []): Promise<Deno.KvKey[]> {
  const kv = await Deno.openKv(path);
  const keys: Deno.KvKey[] = [];
  for await (const e of kv.list({ prefix })) keys.push(e.key);
  kv.close();
  return keys;
}
