/**
 * Stored records (sessions, subscriptions, outbound entries, retained messages) as
 * bytes for JetStream KV: JSON, with every Uint8Array (payloads, correlation data)
 * as base64 under a `$b` key so that binary survives the round trip.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  // In slices: String.fromCharCode over a whole large payload overflows the argument limit.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** A record as KV value bytes. */
export function encodeRecord(value: unknown): Uint8Array {
  // The holder's own value, not `v`: a Node Buffer (NATS payloads) has turned into JSON already.
  return encoder.encode(JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
    const raw = this[key];
    return raw instanceof Uint8Array ? { $b: toBase64(raw) } : v;
  }));
}

/** The inverse of {@link encodeRecord}. */
export function decodeRecord<T>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes), (_key, v) => {
    if (v !== null && typeof v === "object" && typeof v.$b === "string" && Object.keys(v).length === 1) {
      return fromBase64(v.$b);
    }
    return v;
  }) as T;
}
