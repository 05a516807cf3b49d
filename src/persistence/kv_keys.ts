/**
 * The whole Deno KV key schema, in one place (documented in docs/persistence.md).
 *
 *   ["meta", "schema"]                 → number        schema version
 *   ["meta", "lock"]                   → LockRecord    owner of the file (lease)
 *   ["s", clientId]                    → StoredSession
 *   ["sub", clientId, filter]          → StoredSubscription
 *   ["out", clientId, seq]             → OutboundEntry
 *   ["in", clientId, packetId]         → true          inbound QoS 2 awaiting PUBREL
 *   ["r", topic]                       → StoredMessage retained message
 *   [...recordKey, "chunk", i]         → Uint8Array    payload chunks of a large record
 *
 * Client ids, filters and topics longer than {@link MAX_KEY_STRING} bytes are
 * replaced in keys by "#" + a SHA-256 hex digest; the full string stays in the value.
 *
 * @module
 */

export const SCHEMA_VERSION = 1;
export const SCHEMA_KEY = ["meta", "schema"] as const;
export const LOCK_KEY = ["meta", "lock"] as const;

/** Longest string kept verbatim in a key part (keys must stay under 2 KiB in all). */
export const MAX_KEY_STRING = 512;

/** Payload bytes per chunk: values must stay under 64 KiB with room for the record fields. */
export const CHUNK_SIZE = 60 * 1024;

const encoder = new TextEncoder();

/** A key-safe form of a string: itself, or a digest when it is too long. */
export async function keyPart(s: string): Promise<string> {
  const bytes = encoder.encode(s);
  if (bytes.length <= MAX_KEY_STRING) return s;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return "#" + Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

export const sessionKey = async (clientId: string): Promise<Deno.KvKey> => ["s", await keyPart(clientId)];
export const subscriptionPrefix = async (
  clientId: string,
): Promise<Deno.KvKey> => ["sub", await keyPart(clientId)];
export const outboundPrefix = async (
  clientId: string,
): Promise<Deno.KvKey> => ["out", await keyPart(clientId)];
export const inboundPrefix = async (clientId: string): Promise<Deno.KvKey> => ["in", await keyPart(clientId)];
export const retainedKey = async (topic: string): Promise<Deno.KvKey> => ["r", await keyPart(topic)];

/** Key of chunk `i` of the record stored at `key`. */
export function chunkKey(key: Deno.KvKey, i: number): Deno.KvKey {
  return [...key, "chunk", i];
}

/** Whether a listed key is a chunk (and not a record). */
export function isChunkKey(key: Deno.KvKey): boolean {
  return key.length >= 2 && key[key.length - 2] === "chunk";
}
