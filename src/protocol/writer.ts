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

  raw(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}
