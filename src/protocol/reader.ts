/**
 * Byte-level reading primitives over a view: integers, variable byte integers,
 * UTF-8 strings and binary data. Every failure is a ProtocolError (0x81).
 *
 * @module
 */
import { malformed } from "./errors.ts";

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Cache of short ASCII strings (topics, client ids) keyed by their bytes. Large enough for
 * the 10 000 distinct topics of 10 000 clients that each publish to their own: when it is
 * too small, every lookup misses and each miss leaves a cache entry to be promoted and
 * collected by a major GC (about 2 MiB at this size).
 */
const STRING_CACHE_MAX = 16_384;
const stringCache = new Map<number, { bytes: Uint8Array; value: string }>();

function cachedAscii(buf: Uint8Array, start: number, end: number): string | undefined {
  // FNV-1a over the bytes; also rejects non-ASCII and U+0000 by returning undefined.
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b === 0 || b > 0x7f) return undefined;
    h = Math.imul(h ^ b, 0x01000193);
  }
  const key = (h >>> 0) ^ (end - start);
  const hit = stringCache.get(key);
  if (hit !== undefined && hit.bytes.length === end - start) {
    let same = true;
    for (let i = 0; i < hit.bytes.length; i++) {
      if (hit.bytes[i] !== buf[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return hit.value;
  }
  let value = "";
  for (let i = start; i < end; i++) value += String.fromCharCode(buf[i]);
  if (stringCache.size >= STRING_CACHE_MAX) stringCache.clear();
  stringCache.set(key, { bytes: buf.slice(start, end), value });
  return value;
}

/** Decodes UTF-8 bytes, rejecting ill-formed sequences [MQTT-1.5.4-1] and U+0000 [MQTT-1.5.4-2]. */
export function decodeUtf8(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= 64) {
    const ascii = cachedAscii(buf, start, end);
    if (ascii !== undefined) return ascii;
  }
  for (let i = start; i < end; i++) {
    if (buf[i] === 0) throw malformed("UTF-8 string contains U+0000");
  }
  try {
    return fatalUtf8.decode(buf.subarray(start, end));
  } catch {
    throw malformed("ill-formed UTF-8 string");
  }
}

/**
 * Reads a variable byte integer at `offset`. Returns null when more bytes are needed;
 * throws on a fifth byte [MQTT-1.5.5-1].
 */
export function readVarint(
  buf: Uint8Array,
  offset: number,
  end = buf.length,
): { value: number; bytes: number } | null {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < 4; i++) {
    if (offset + i >= end) return null;
    const b = buf[offset + i];
    value += (b & 0x7f) * multiplier;
    if ((b & 0x80) === 0) return { value, bytes: i + 1 };
    multiplier *= 128;
  }
  throw malformed("variable byte integer longer than 4 bytes");
}

/** A cursor over one packet body. */
export class Reader {
  readonly buf: Uint8Array;
  pos: number;
  readonly end: number;

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  #need(n: number, what: string): void {
    if (this.pos + n > this.end) throw malformed(`packet too short: ${what} truncated`);
  }

  u8(what = "byte"): number {
    this.#need(1, what);
    return this.buf[this.pos++];
  }

  u16(what = "two-byte integer"): number {
    this.#need(2, what);
    const v = (this.buf[this.pos] << 8) | this.buf[this.pos + 1];
    this.pos += 2;
    return v;
  }

  u32(what = "four-byte integer"): number {
    this.#need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }

  varint(what = "variable byte integer"): number {
    const r = readVarint(this.buf, this.pos, this.end);
    if (r === null) throw malformed(`packet too short: ${what} truncated`);
    this.pos += r.bytes;
    return r.value;
  }

  utf8(what = "string"): string {
    const len = this.u16(`${what} length`);
    this.#need(len, what);
    const s = decodeUtf8(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /** Binary data; `copy` makes it independent of the read buffer. */
  binary(what = "binary data", copy = true): Uint8Array {
    const len = this.u16(`${what} length`);
    this.#need(len, what);
    const v = copy ? this.buf.slice(this.pos, this.pos + len) : this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return v;
  }

  /** The rest of the body as a view. */
  rest(): Uint8Array {
    const v = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return v;
  }
}
