/**
 * The whole Deno KV key schema, in one place (documented in docs/persistence.md).
 *
 *   ["meta", "schema"]                 → number        schema version
 *   ["s", clientId]                    → StoredSession
 *   ["sub", clientId, filter]          → StoredSubscription
 *   ["out", clientId, seq]             → OutboundEntry
 *   ["in", clientId, packetId]         → true          inbound QoS 2 awaiting PUBREL
 *   ["r", topic]                       → StoredMessage retained message
 *   [...recordKey, "chunk", i]         → Uint8Array    chunks of a large record (kv_records.ts)
 *   ["journal", id]                    → { chunks }    a committed write being applied (kv_journal.ts)
 *   ["journal", id, "chunk", i]        → Uint8Array    its serialized operations
 *
 * Client ids, filters and topics longer than {@link MAX_KEY_STRING} bytes are
 * replaced in keys by "#" + a SHA-256 hex digest; the full string stays in the value.
 * The mapping must be injective, or one client could read another's state:
 * - a client id that starts with "#" is kept with one more "#" in front ("#a" → "##a"),
 *   so that no literal id can equal a digest form ("#" then a hex digit);
 * - topics and filters need no escape: a topic never contains "#" [MQTT-4.7.1-1] and
 *   the only filter that starts with it is "#" itself, one character long.
 *
 * Schema 1 kept client ids that start with "#" unescaped; opening such a store moves
 * their records (kv_migrate.ts).
 *
 * @module
 */

export const SCHEMA_VERSION = 2;
export const SCHEMA_KEY = ["meta", "schema"] as const;
/** Schema 1's lease record of the owning process, replaced by the lock file (kv_lock.ts). */
export const LEGACY_LOCK_KEY = ["meta", "lock"] as const;

/** Longest string kept verbatim in a key part (keys must stay under 2 KiB in all). */
export const MAX_KEY_STRING = 512;

/** Payload bytes per chunk: values must stay under 64 KiB with room for the record fields. */
export const CHUNK_SIZE = 60 * 1024;

const encoder = new TextEncoder();

/** Whether a string is kept verbatim in a key (else it is replaced by its digest). */
export function fitsKey(s: string): boolean {
  // A UTF-16 unit is at most 3 UTF-8 bytes: most strings are decided without encoding them.
  return s.length * 3 <= MAX_KEY_STRING || encoder.encode(s).length <= MAX_KEY_STRING;
}

/** "#" + the SHA-256 hex digest of a string too long for a key. */
async function digestPart(s: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(s)));
  return "#" + Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A key-safe form of a topic or filter: itself, or a digest when it is too long. */
export async function keyPart(s: string): Promise<string> {
  return fitsKey(s) ? s : await digestPart(s);
}

/** A key-safe form of a client id: itself ("#" doubled in front), or a digest when it is too long. */
export async function clientPart(clientId: string): Promise<string> {
  if (!fitsKey(clientId)) return await digestPart(clientId);
  return clientId.charCodeAt(0) === 0x23 ? "#" + clientId : clientId;
}

/** The part schema 1 used for a client id (no escape), for the migration. */
export const legacyClientPart = keyPart;

export const sessionKey = async (clientId: string): Promise<Deno.KvKey> => ["s", await clientPart(clientId)];
export const subscriptionPrefix = async (
  clientId: string,
): Promise<Deno.KvKey> => ["sub", await clientPart(clientId)];
export const outboundPrefix = async (
  clientId: string,
): Promise<Deno.KvKey> => ["out", await clientPart(clientId)];
export const inboundPrefix = async (
  clientId: string,
): Promise<Deno.KvKey> => ["in", await clientPart(clientId)];
export const retainedKey = async (topic: string): Promise<Deno.KvKey> => ["r", await keyPart(topic)];

/** Parts in a record's key, per kind: a chunk key has two more ("chunk", index). */
const RECORD_PARTS: Record<string, number> = { s: 2, r: 2, sub: 3, out: 3, in: 3 };

/**
 * Whether a listed key is a chunk (and not a record). By length, not only by the
 * "chunk" part: a client id may itself be "chunk" (`["sub", "chunk", filter]`).
 */
export function isChunkKey(key: Deno.KvKey): boolean {
  const parts = RECORD_PARTS[key[0] as string];
  return parts !== undefined && key.length === parts + 2 && key[parts] === "chunk";
}
