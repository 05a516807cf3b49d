/**
 * Upgrades a Deno KV store written under an older key schema (kv_keys.ts).
 *
 * Schema 1 → 2: client ids that start with "#" gain a second "#" in their key part,
 * so that none can equal the digest form of a long client id (the collision of issue
 * #18). Every session stored under such a literal part is moved with its chunks,
 * subscriptions, outbound entries and inbound QoS 2 ids. Children move before the
 * session record that owns them, so a crash in the middle leaves the record at its
 * old place and the next open finishes the move; a record already at its new place
 * is recognised and left alone.
 *
 * @module
 */
import { clientPart, legacyClientPart, SCHEMA_KEY } from "./kv_keys.ts";
import type { StoredSession } from "./store.ts";

/** Mutations per atomic, under KV's 1000 (a move is a set and a delete). */
const MOVES_PER_ATOMIC = 400;
/** Value bytes per atomic, under KV's 800 KiB. */
const BYTES_PER_ATOMIC = 700 * 1024;

/** Brings the store at `kv` from `from` to the current schema `to`. */
export async function migrate(kv: Deno.Kv, from: number, to: number): Promise<void> {
  if (from < 2 && to >= 2) await escapeHashClientIds(kv);
  await kv.set(SCHEMA_KEY, to);
}

/** Schema 2: moves the sessions of client ids that start with "#" (see the module comment). */
async function escapeHashClientIds(kv: Deno.Kv): Promise<void> {
  const moves: { from: string; to: string }[] = [];
  for await (const entry of kv.list<StoredSession>({ prefix: ["s"] })) {
    const part = entry.key[1];
    if (entry.key.length !== 2 || typeof part !== "string" || part.charCodeAt(0) !== 0x23) continue;
    const clientId = entry.value.clientId;
    // Only a record stored under the old literal form moves (a digest, or a moved one, stays).
    if (await legacyClientPart(clientId) !== part) continue;
    const target = await clientPart(clientId);
    if (target !== part) moves.push({ from: part, to: target });
  }
  for (const { from, to } of moves) {
    for (const kind of ["sub", "out", "in"]) await moveTree(kv, [kind, from], [kind, to]);
    await moveTree(kv, ["s", from], ["s", to]);
  }
}

/** Moves every key under `from` (the prefix key itself included) to the same place under `to`. */
async function moveTree(kv: Deno.Kv, from: Deno.KvKey, to: Deno.KvKey): Promise<void> {
  const entries: Deno.KvEntry<unknown>[] = [];
  const own = await kv.get(from);
  for await (const entry of kv.list({ prefix: from })) entries.push(entry);
  // The record itself last, after its chunks (which list() returns under its prefix).
  if (own.versionstamp !== null) entries.push(own as Deno.KvEntry<unknown>);
  let atomic = kv.atomic();
  let count = 0;
  let bytes = 0;
  for (const entry of entries) {
    // Records other than chunks are bounded by KV's 64 KiB per value.
    const size = entry.value instanceof Uint8Array ? entry.value.length : entry.value === true ? 16 : 65_536;
    if (count >= MOVES_PER_ATOMIC || bytes + size > BYTES_PER_ATOMIC) {
      await commit(atomic);
      atomic = kv.atomic();
      count = 0;
      bytes = 0;
    }
    atomic.check(entry).set([...to, ...entry.key.slice(from.length)], entry.value).delete(entry.key);
    count++;
    bytes += size;
  }
  if (count > 0) await commit(atomic);
}

async function commit(atomic: Deno.AtomicOperation): Promise<void> {
  const result = await atomic.commit();
  if (!result.ok) throw new Error("KV store migration: a record changed while it was being moved");
}
