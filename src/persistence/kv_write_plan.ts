/**
 * One group write of the KV store, planned before anything is written: fresh chunks
 * (safe to write first, in any number of atomics: nothing refers to them yet), then
 * the records and the deletes of chunks they no longer use, which must land all
 * together (kv_journal.ts). Chunk ranges are staged here and become the store's
 * knowledge only once the write succeeded.
 *
 * @module
 */
import {
  type ChunkRange,
  deleteChunks,
  encodeRecord,
  keySize,
  type KvOp,
  type PayloadKind,
} from "./kv_records.ts";

export const keyString = (key: Deno.KvKey): string => JSON.stringify(key);

export class WritePlan {
  /** Fresh chunks, written before the commit point. */
  readonly chunks: KvOp[] = [];
  /** Records and stale chunk deletes, written atomically. */
  readonly records: KvOp[] = [];
  /** Chunk ranges as they will be once this write is applied (null: no record any more). */
  readonly #staged = new Map<string, ChunkRange | null>();
  readonly #known: ReadonlyMap<string, ChunkRange>;

  /** `known`: the chunk ranges of the records stored now. */
  constructor(known: ReadonlyMap<string, ChunkRange>) {
    this.#known = known;
  }

  /** The chunk range the record at `id` has, counting what this write already did to it. */
  rangeOf(id: string): ChunkRange | undefined {
    const staged = this.#staged.get(id);
    if (staged === null) return undefined;
    return staged ?? this.#known.get(id);
  }

  /** Whether this plan or the store knows about the record at `id`. */
  knows(id: string): boolean {
    return this.#staged.has(id) || this.#known.has(id);
  }

  /**
   * Stores `value` at `key`. `stored`: the range of the version in KV, when the caller
   * had to read it (a store shared with other writers); else what is known is used.
   */
  put(key: Deno.KvKey, kind: PayloadKind | null, value: unknown, stored?: ChunkRange): void {
    const id = keyString(key);
    const previous = stored ?? this.rangeOf(id);
    const encoded = encodeRecord(key, kind, value, previous);
    this.chunks.push(...encoded.chunks);
    this.records.push(encoded.record, ...deleteChunks(key, previous));
    this.#staged.set(id, encoded.range.count > 0 ? encoded.range : null);
  }

  /** Deletes the record at `key` and its chunks. */
  delete(key: Deno.KvKey, stored?: ChunkRange): void {
    const id = keyString(key);
    this.records.push(
      { key, value: null, size: keySize(key) },
      ...deleteChunks(key, stored ?? this.rangeOf(id)),
    );
    this.#staged.set(id, null);
  }

  /** Deletes a key listed from KV: a record (then no longer known), or a chunk. */
  deleteListed(key: Deno.KvKey, isRecord: boolean): void {
    this.records.push({ key, value: null, size: keySize(key) });
    if (isRecord) this.#staged.set(keyString(key), null);
  }

  /**
   * Turns every put planned so far under one of `prefixes` into nothing: a session
   * deleted later in the same write takes what was put for it earlier along.
   */
  cancelUnder(prefixes: readonly Deno.KvKey[]): void {
    const starts = prefixes.map((p) => keyString(p).slice(0, -1) + ",");
    const under = (key: Deno.KvKey) => {
      const id = keyString(key);
      return starts.some((s) => id.startsWith(s));
    };
    for (const op of this.records) if (op.value !== null && under(op.key)) op.value = null;
    const kept = this.chunks.filter((op) => !under(op.key));
    this.chunks.length = 0;
    this.chunks.push(...kept);
    for (const id of this.#staged.keys()) {
      if (starts.some((s) => id.startsWith(s))) this.#staged.set(id, null);
    }
  }

  /** After the write succeeded: the store's ranges become what this write staged. */
  settle(ranges: Map<string, ChunkRange>): void {
    for (const [id, range] of this.#staged) {
      if (range === null) ranges.delete(id);
      else ranges.set(id, range);
    }
  }
}
