/**
 * Writing a set of KV operations atomically, however many there are. One
 * `kv.atomic()` takes at most 1000 mutations and ~800 KiB; a group commit can hold
 * more (a message routed to many persistent subscribers), and what one client's
 * packet changes must land together or not at all: a QoS 2 PUBLISH's inbound packet
 * id with the messages it queued, or a retransmitted PUBLISH is routed twice after a
 * crash (issue #18, item 10).
 *
 * Operations that fit are one atomic. Larger sets go through a journal: the
 * operations are V8-serialized into chunks under `["journal", id, "chunk", i]`, then
 * one atomic writes the head `["journal", id]` (the commit point), then the
 * operations are applied in as many atomics as needed, and the journal is deleted.
 * A store opened after a crash replays every journal whose head exists (the
 * operations are plain sets and deletes: applying them again is harmless) and
 * deletes chunks of journals that never got a head.
 *
 * @module
 */
import { deserialize, serialize } from "node:v8";
import { CHUNK_SIZE } from "./kv_keys.ts";
import { joinChunks, keySize, type KvOp, ownBytes, sizeBound } from "./kv_records.ts";

export const MAX_ATOMIC_MUTATIONS = 1000;
/** Bytes per atomic, under KV's 800 KiB with room for what the size bounds miss. */
export const MAX_ATOMIC_BYTES = 760 * 1024;

const JOURNAL = "journal";

/** Whether `ops` fit in one atomic. */
export function fitsOneAtomic(ops: readonly KvOp[]): boolean {
  if (ops.length > MAX_ATOMIC_MUTATIONS) return false;
  let bytes = 0;
  for (const op of ops) bytes += op.size;
  return bytes <= MAX_ATOMIC_BYTES;
}

/**
 * Applies `ops` in order, in as many atomics as their number and size need. Not
 * atomic as a whole: for writes that are safe in any partial state (fresh chunks,
 * a journal's replay, deletes of garbage).
 */
export async function applyLoose(kv: Deno.Kv, ops: readonly KvOp[], onAtomic?: () => void): Promise<void> {
  let atomic = kv.atomic();
  let count = 0;
  let bytes = 0;
  const flush = async () => {
    if (count === 0) return;
    const result = await atomic.commit();
    if (!result.ok) throw new Error("KV atomic commit failed");
    onAtomic?.();
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

/** The journal's ops as stored: [key, value or null] pairs. */
type Entry = [Deno.KvKey, unknown];

/** Thrown when a journaled write failed after its commit point: the store must stop writing. */
export class JournalApplyError extends Error {
  constructor(cause: unknown) {
    super(
      `KV store: a committed write could not be applied (${(cause as Error).message}); ` +
        "it is replayed when the store is opened again",
    );
    this.name = "JournalApplyError";
  }
}

/**
 * Writes `ops` all or nothing: one atomic when they fit, else through a journal
 * (see the module comment). Rejects with {@link JournalApplyError} when the journal
 * was committed but applying it failed.
 */
export async function applyAtomically(
  kv: Deno.Kv,
  ops: readonly KvOp[],
  onAtomic?: () => void,
): Promise<void> {
  if (ops.length === 0) return;
  if (fitsOneAtomic(ops)) return await applyLoose(kv, ops, onAtomic);
  const id = crypto.randomUUID();
  const bytes = serialize(ops.map((op): Entry => [op.key, op.value]));
  const body = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  const chunks: KvOp[] = [];
  for (let i = 0; i * CHUNK_SIZE < body.length; i++) {
    const part = body.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE);
    const key = [JOURNAL, id, "chunk", i];
    chunks.push({ key, value: part, size: part.length + keySize(key) + 24 });
  }
  await applyLoose(kv, chunks, onAtomic);
  const head = await kv.atomic().set([JOURNAL, id], { chunks: chunks.length }).commit();
  if (!head.ok) throw new Error("KV atomic commit failed (journal head)");
  onAtomic?.();
  try {
    await applyLoose(kv, ops, onAtomic);
    await applyLoose(kv, [{ key: [JOURNAL, id], value: null, size: 64 }, ...deletes(chunks)], onAtomic);
  } catch (err) {
    throw new JournalApplyError(err);
  }
}

function deletes(ops: readonly KvOp[]): KvOp[] {
  return ops.map((op) => ({ key: op.key, value: null, size: keySize(op.key) }));
}

/**
 * At open: applies every committed journal again and removes all journals. Returns
 * how many were replayed.
 */
export async function replayJournals(kv: Deno.Kv): Promise<number> {
  const heads = new Map<string, number>();
  const chunks = new Map<string, Map<number, Uint8Array>>();
  const garbage: KvOp[] = [];
  for await (const entry of kv.list({ prefix: [JOURNAL] })) {
    const id = String(entry.key[1]);
    if (entry.key.length === 2) heads.set(id, (entry.value as { chunks: number }).chunks);
    else {
      const parts = chunks.get(id) ?? new Map<number, Uint8Array>();
      parts.set(entry.key[3] as number, entry.value as Uint8Array);
      chunks.set(id, parts);
    }
    garbage.push({ key: entry.key, value: null, size: keySize(entry.key) });
  }
  for (const [id, count] of heads) {
    const parts = chunks.get(id);
    const list: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const part = parts?.get(i);
      if (part === undefined) throw new Error(`KV store: journal ${id} is missing chunk ${i}`);
      list.push(part);
    }
    const entries = ownBytes(deserialize(joinChunks(list)) as Entry[]);
    await applyLoose(kv, entries.map(([key, value]) => ({ key, value, size: sizeOf(key, value) })));
  }
  await applyLoose(kv, garbage);
  return heads.size;
}

function sizeOf(key: Deno.KvKey, value: unknown): number {
  return keySize(key) + (value instanceof Uint8Array ? value.length + 24 : sizeBound(value));
}
