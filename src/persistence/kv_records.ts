/**
 * How one record is laid out in Deno KV, whatever its size. KV takes values of at
 * most 64 KiB (measured on their V8 serialization), and any field of a record can be
 * larger than that: a payload, MQTT 5 properties (user properties, correlation data),
 * a topic or filter of up to 65 535 bytes, a client id, a will. So a record is stored
 * in one of three shapes:
 *
 * - **inline**: the value as it is, when an upper bound of its size fits;
 * - **payload chunks**: the payload cut in {@link CHUNK_SIZE} pieces under
 *   `[...key, "chunk", base + i]`, the value keeping every other field and
 *   `{ chunks, chunkBase }`, when only the payload is large (the common case: no copy);
 * - **packed**: the whole value V8-serialized and cut in pieces the same way, the
 *   value being `{ packed, chunkBase }`, when the other fields are large.
 *
 * Chunks of a new version of a record get fresh indices (`chunkBase` moves past the
 * previous version's), so writing them never touches chunks a stored record still
 * refers to: until the record itself is written, they are unreferenced, and loading
 * ignores (and clears) unreferenced chunks. Records written before `chunkBase`
 * existed have their chunks from index 0.
 *
 * @module
 */
import { deserialize, serialize } from "node:v8";
import { CHUNK_SIZE } from "./kv_keys.ts";
import type { OutboundEntry, StoredMessage, StoredSession } from "./store.ts";

/** Values whose size bound is above this are not stored inline (KV's limit is 65 536 bytes). */
export const INLINE_LIMIT = 60 * 1024;

/** The record kinds that carry a payload. */
export type PayloadKind = "s" | "out" | "r";

/** Where a record's chunks are: `count` chunks from index `base`. */
export interface ChunkRange {
  base: number;
  count: number;
}

/** One KV write: a set (value) or a delete (value null), with an upper bound of its size. */
export interface KvOp {
  key: Deno.KvKey;
  value: unknown;
  size: number;
}

/**
 * An upper bound of the V8 serialization size of `value` (which KV limits): strings
 * at two bytes per UTF-16 unit, and generous per-field overheads.
 */
export function sizeBound(value: unknown): number {
  return 8 + bound(value); // the serialization's header
}

function bound(value: unknown): number {
  switch (typeof value) {
    case "string":
      return value.length * 2 + 10;
    case "number":
    case "bigint":
      return 12;
    case "object": {
      if (value === null) return 1;
      // KV serializes a nested view with its whole buffer (a top-level one as its own bytes).
      if (value instanceof Uint8Array) return value.buffer.byteLength + 24;
      let n = 10;
      if (Array.isArray(value)) {
        for (const v of value) n += bound(v);
        return n;
      }
      for (const k in value) n += k.length * 2 + 10 + bound((value as Record<string, unknown>)[k]);
      return n;
    }
    default:
      return 4;
  }
}

/** An upper bound of a key's size. */
export function keySize(key: Deno.KvKey): number {
  let n = 8;
  for (const part of key) n += typeof part === "string" ? part.length * 3 + 4 : 12;
  return n;
}

/** Where the payload lives in each kind of record. */
function getPayload(kind: PayloadKind, value: unknown): Uint8Array | undefined {
  if (kind === "r") return (value as StoredMessage).payload;
  if (kind === "out") return (value as OutboundEntry).message.payload;
  return (value as StoredSession).will?.message.payload;
}

function withPayload(kind: PayloadKind, value: unknown, payload: Uint8Array): unknown {
  if (kind === "r") return { ...(value as StoredMessage), payload };
  if (kind === "out") {
    const e = value as OutboundEntry;
    return { ...e, message: { ...e.message, payload } };
  }
  const s = value as StoredSession;
  return { ...s, will: { ...s.will!, message: { ...s.will!.message, payload } } };
}

const EMPTY = new Uint8Array(0);

/** Key of chunk `i` of the record stored at `key`. */
export function chunkKey(key: Deno.KvKey, i: number): Deno.KvKey {
  return [...key, "chunk", i];
}

/** What writing one record takes: chunk writes (safe before the commit point), then the record. */
export interface EncodedRecord {
  /** Fresh chunks, unreferenced until `record` is written. */
  chunks: KvOp[];
  record: KvOp;
  /** The chunks the record refers to once written (count 0: none). */
  range: ChunkRange;
}

/**
 * Lays out `value` for `key` (see the module comment). `kind` names where a payload
 * is; `previous` is the chunk range of the version stored now, whose indices the new
 * chunks must not reuse.
 */
export function encodeRecord(
  key: Deno.KvKey,
  kind: PayloadKind | null,
  value: unknown,
  previous: ChunkRange | undefined,
): EncodedRecord {
  const base = previous === undefined ? 0 : previous.base + previous.count;
  const keyBytes = keySize(key);
  const whole = sizeBound(value);
  if (whole + keyBytes <= INLINE_LIMIT) {
    return { chunks: [], record: { key, value, size: whole + keyBytes }, range: { base: 0, count: 0 } };
  }
  const payload = kind === null ? undefined : getPayload(kind, value);
  if (payload !== undefined && whole - sizeBound(payload) + keyBytes <= INLINE_LIMIT) {
    const chunks = cut(key, payload, base);
    const rest = { ...(withPayload(kind!, value, EMPTY) as object), chunks: chunks.length, chunkBase: base };
    const size = sizeBound(rest) + keyBytes;
    return { chunks, record: { key, value: rest, size }, range: { base, count: chunks.length } };
  }
  const bytes = serialize(value);
  const chunks = cut(key, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), base);
  const packed = { packed: chunks.length, chunkBase: base };
  return {
    chunks,
    record: { key, value: packed, size: 64 + keyBytes },
    range: { base, count: chunks.length },
  };
}

function cut(key: Deno.KvKey, bytes: Uint8Array, base: number): KvOp[] {
  const ops: KvOp[] = [];
  const count = Math.max(1, Math.ceil(bytes.length / CHUNK_SIZE));
  for (let i = 0; i < count; i++) {
    const part = bytes.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE);
    const k = chunkKey(key, base + i);
    ops.push({ key: k, value: part, size: part.length + keySize(k) + 24 });
  }
  return ops;
}

/** Deletes of every chunk in `range` of the record at `key`. */
export function deleteChunks(key: Deno.KvKey, range: ChunkRange | undefined): KvOp[] {
  const ops: KvOp[] = [];
  if (range === undefined) return ops;
  for (let i = 0; i < range.count; i++) {
    const k = chunkKey(key, range.base + i);
    ops.push({ key: k, value: null, size: keySize(k) });
  }
  return ops;
}

/** The chunk range a stored value refers to, if any. */
export function rangeOf(value: unknown): ChunkRange | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const v = value as { chunks?: number; packed?: number; chunkBase?: number };
  const count = v.packed ?? v.chunks;
  return count === undefined ? undefined : { base: v.chunkBase ?? 0, count };
}

/**
 * The record as written by {@link encodeRecord}, from its stored value and its chunks
 * (by index). Undefined when a chunk it refers to is missing (a damaged record).
 */
export function decodeRecord(
  kind: string,
  value: unknown,
  chunks: Map<number, Uint8Array> | undefined,
): unknown {
  const range = rangeOf(value);
  if (range === undefined) return value;
  const parts: Uint8Array[] = [];
  for (let i = 0; i < range.count; i++) {
    const part = chunks?.get(range.base + i);
    if (part === undefined) return undefined;
    parts.push(part);
  }
  const bytes = joinChunks(parts);
  if ((value as { packed?: number }).packed !== undefined) return ownBytes(deserialize(bytes));
  if (kind !== "s" && kind !== "out" && kind !== "r") return value;
  const { chunks: _c, chunkBase: _b, ...rest } = value as { chunks: number; chunkBase?: number };
  return withPayload(kind, rest, bytes);
}

/**
 * `value` with every byte array its own (deserialized ones are views into the input):
 * KV stores a nested view with its whole buffer, and a view keeps that buffer alive.
 */
export function ownBytes<T>(value: T): T {
  if (value instanceof Uint8Array) {
    const whole = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength;
    return (whole && value.constructor === Uint8Array ? value : new Uint8Array(value)) as T;
  }
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(ownBytes) as T;
  const out: Record<string, unknown> = {};
  for (const k in value) out[k] = ownBytes((value as Record<string, unknown>)[k]);
  return out as T;
}

/** The chunks of one record as one array with a buffer of its own (a single chunk is copied too). */
export function joinChunks(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0].slice();
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
