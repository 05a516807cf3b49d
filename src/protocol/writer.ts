/**
 * Byte-level writing primitives. Encoders compute the exact size first and
 * write into one Uint8Array: no intermediate buffers.
 *
 * @module
 */

const utf8 = new TextEncoder();

/** Bytes needed for a variable byte integer. */
export function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

/** Encodes a variable byte integer (0 .. 268 435 455). */
export function encodeVarint(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 268_435_455) throw new RangeError(`varint out of range: ${n}`);
  const out = new Uint8Array(varintSize(n));
  writeVarint(out, 0, n);
  return out;
}

/** Writes a variable byte integer at `at`; returns the position after it. */
export function writeVarint(buf: Uint8Array, at: number, n: number): number {
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    buf[at++] = b;
  } while (n > 0);
  return at;
}

/**
 * Bytes of `s` in UTF-8, counted without encoding it (a lone surrogate counts 3, as the
 * encoder writes U+FFFD for it). Throws past 65 535, the most a length prefix can say.
 */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 4 bytes for 2 code units
      i++;
    } else n += 2;
  }
  if (n > 65535) throw new RangeError("string longer than 65535 bytes");
  return n;
}

/** UTF-8 bytes of a string, for size computation before writing. */
export function utf8Bytes(s: string): Uint8Array {
  const bytes = utf8.encode(s);
  if (bytes.length > 65535) throw new RangeError("string longer than 65535 bytes");
  return bytes;
}

/** A cursor writing into a pre-sized buffer. */
export class Writer {
  readonly buf: Uint8Array;
  pos = 0;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }

  u8(v: number): void {
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.buf[this.pos++] = v >> 8;
    this.buf[this.pos++] = v & 0xff;
  }

  u32(v: number): void {
    this.buf[this.pos++] = (v >>> 24) & 0xff;
    this.buf[this.pos++] = (v >>> 16) & 0xff;
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
  }

  varint(n: number): void {
    this.pos = writeVarint(this.buf, this.pos, n);
  }

  /** Length-prefixed bytes (a UTF-8 string already encoded, or binary data). */
  prefixed(bytes: Uint8Array): void {
    this.u16(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** A length-prefixed UTF-8 string of `byteLength` bytes (from {@link utf8Length}), encoded in place. */
  utf8(s: string, byteLength: number): void {
    this.u16(byteLength);
    if (byteLength === s.length) {
      // ASCII: one byte per code unit, no encoder call.
      const buf = this.buf;
      let at = this.pos;
      for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i);
    } else {
      utf8.encodeInto(s, this.buf.subarray(this.pos, this.pos + byteLength));
    }
    this.pos += byteLength;
  }

  raw(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}
