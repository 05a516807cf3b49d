/**
 * PROXY protocol v1 (text) and v2 (binary) headers, as sent by load balancers
 * (HAProxy, AWS NLB, …) before the client's bytes, so the broker knows the real
 * client address. Opt-in per listener: a listener that expects the header
 * refuses connections without one.
 *
 * @module
 */

const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const V1_MAX = 107;

export interface ProxyHeader {
  /** Bytes the header occupied. */
  length: number;
  /** "host:port" of the original client; undefined for LOCAL/UNKNOWN (health checks). */
  remoteAddress?: string;
}

/** Parses a header at the start of `bytes`; null when more bytes are needed. Throws if it is not one. */
export function parseProxyHeader(bytes: Uint8Array): ProxyHeader | null {
  if (bytes.length === 0) return null;
  if (bytes[0] === 0x0d) return parseV2(bytes);
  if (bytes[0] === 0x50) return parseV1(bytes);
  throw new Error("connection did not start with a PROXY protocol header");
}

function parseV1(bytes: Uint8Array): ProxyHeader | null {
  const end = bytes.indexOf(0x0a);
  if (end === -1) {
    if (bytes.length >= V1_MAX) throw new Error("PROXY v1 header too long");
    return null;
  }
  const line = new TextDecoder().decode(bytes.subarray(0, end)).replace(/\r$/, "");
  const parts = line.split(" ");
  if (parts[0] !== "PROXY") throw new Error("not a PROXY v1 header");
  if (parts[1] === "UNKNOWN") return { length: end + 1 };
  if ((parts[1] !== "TCP4" && parts[1] !== "TCP6") || parts.length !== 6) {
    throw new Error(`bad PROXY v1 header: ${line}`);
  }
  const host = parts[1] === "TCP6" ? `[${parts[2]}]` : parts[2];
  return { length: end + 1, remoteAddress: `${host}:${parts[4]}` };
}

function parseV2(bytes: Uint8Array): ProxyHeader | null {
  const prefix = Math.min(bytes.length, 12);
  for (let i = 0; i < prefix; i++) if (bytes[i] !== V2_SIGNATURE[i]) throw new Error("not a PROXY v2 header");
  if (bytes.length < 16) return null;
  const length = 16 + ((bytes[14] << 8) | bytes[15]);
  if (bytes.length < length) return null;
  const command = bytes[12] & 0x0f;
  const family = bytes[13] >> 4;
  if ((bytes[12] >> 4) !== 2) throw new Error("PROXY v2 header with an unknown version");
  if (command === 0) return { length }; // LOCAL: the balancer's own connection
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (family === 1) {
    const ip = Array.from(bytes.subarray(16, 20)).join(".");
    return { length, remoteAddress: `${ip}:${view.getUint16(24)}` };
  }
  if (family === 2) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(view.getUint16(16 + i * 2).toString(16));
    return { length, remoteAddress: `[${groups.join(":")}]:${view.getUint16(48)}` };
  }
  return { length };
}

/**
 * Reads the header from a connection. Returns the client address and the bytes that
 * followed the header in the same reads. Fails after `timeoutMs`.
 */
export async function readProxyHeader(
  conn: Deno.Conn,
  timeoutMs = 5000,
): Promise<{ remoteAddress?: string; rest: Uint8Array }> {
  const buf = new Uint8Array(536);
  let filled = 0;
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    for (;;) {
      const n = await conn.read(buf.subarray(filled));
      if (n === null) throw new Error("connection closed before the PROXY header");
      filled += n;
      const header = parseProxyHeader(buf.subarray(0, filled));
      if (header !== null) {
        return { remoteAddress: header.remoteAddress, rest: buf.slice(header.length, filled) };
      }
      if (filled === buf.length) throw new Error("PROXY header too long");
    }
  } finally {
    clearTimeout(timer);
  }
}
