/**
 * Password files: one `user:record` line per user. This broker writes
 * `$pbkdf2-sha512$<iterations>$<salt base64>$<hash base64>` (PBKDF2-SHA-512 via Web
 * Crypto, 16-byte random salt, 64-byte hash; the iteration count lives in the record so
 * it can be raised later). It also reads, as they are, the records Mosquitto's
 * `mosquitto_passwd` writes, so one file serves both brokers:
 *
 * - `$7$<iterations>$<salt base64>$<hash base64>`: PBKDF2-SHA-512 (Mosquitto 2.0's default);
 * - `$6$<salt base64>$<hash base64>`: one SHA-512 over the password then the salt
 *   (`mosquitto_passwd -H sha512`, the default of Mosquitto 1.6 and earlier).
 *
 * @module
 */

export const DEFAULT_ITERATIONS = 210_000;
const PREFIX = "$pbkdf2-sha512$";
const encoder = new TextEncoder();

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** A record taken apart. `iterations` is 0 for the single-hash `$6$` scheme. */
interface ParsedRecord {
  scheme: "pbkdf2" | "sha512";
  iterations: number;
  salt: Uint8Array;
  hash: Uint8Array;
}

/** Parses any record this broker reads; null when it is none of them. */
function parseRecord(record: string): ParsedRecord | null {
  const parts = record.split("$");
  try {
    if (record.startsWith(PREFIX) && parts.length === 5) return pbkdf2Parts(parts[2], parts[3], parts[4]);
    if (record.startsWith("$7$") && parts.length === 5) return pbkdf2Parts(parts[2], parts[3], parts[4]);
    if (record.startsWith("$6$") && parts.length === 4) {
      const salt = unb64(parts[2]);
      const hash = unb64(parts[3]);
      return salt.length > 0 && hash.length === 64 ? { scheme: "sha512", iterations: 0, salt, hash } : null;
    }
  } catch {
    // Not base64.
  }
  return null;
}

function pbkdf2Parts(iterations: string, salt: string, hash: string): ParsedRecord | null {
  const n = Number(iterations);
  if (!/^\d+$/.test(iterations) || !Number.isSafeInteger(n) || n < 1) return null;
  const parsed = { scheme: "pbkdf2" as const, iterations: n, salt: unb64(salt), hash: unb64(hash) };
  return parsed.salt.length > 0 && parsed.hash.length >= 16 ? parsed : null;
}

async function pbkdf2(password: Uint8Array, salt: Uint8Array, iterations: number, bytes: number) {
  // Web Crypto wants ArrayBuffer-backed views: copy (these are a few bytes).
  const key = await crypto.subtle.importKey("raw", new Uint8Array(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-512", salt: new Uint8Array(salt), iterations },
    key,
    bytes * 8,
  );
  return new Uint8Array(bits);
}

async function derive(password: Uint8Array, record: ParsedRecord): Promise<Uint8Array> {
  if (record.scheme === "pbkdf2") {
    return await pbkdf2(password, record.salt, record.iterations, record.hash.length);
  }
  const input = new Uint8Array(password.length + record.salt.length);
  input.set(password);
  input.set(record.salt, password.length);
  return new Uint8Array(await crypto.subtle.digest("SHA-512", input));
}

/** A new record for `password`, in this broker's own format. */
export async function hashPassword(password: string, iterations = DEFAULT_ITERATIONS): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await pbkdf2(encoder.encode(password), salt, iterations, 64);
  return `${PREFIX}${iterations}$${b64(salt)}$${b64(hash)}`;
}

/** Compares in time independent of where the inputs differ. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Whether `password` matches the record (any format read here); a malformed record never matches. */
export async function verifyPassword(password: Uint8Array | string, record: string): Promise<boolean> {
  const parsed = parseRecord(record);
  if (parsed === null) return false;
  const bytes = typeof password === "string" ? encoder.encode(password) : password;
  try {
    return constantTimeEqual(await derive(bytes, parsed), parsed.hash);
  } catch {
    return false;
  }
}

/** What verifying a record costs: its format and iteration count (records of one cost take as long). */
export function recordCost(record: string): string {
  const parsed = parseRecord(record);
  if (parsed === null) return "invalid";
  return `${record.slice(0, record.indexOf("$", 1) + 1)}${parsed.iterations}:${parsed.hash.length}`;
}

/**
 * A record of the same format and cost as `record` that no password matches (random
 * salt and hash): verifying it takes as long as verifying `record`.
 */
export function decoyRecord(record: string): string {
  const parsed = parseRecord(record);
  if (parsed === null) throw new TypeError("decoyRecord needs a valid record");
  const salt = b64(crypto.getRandomValues(new Uint8Array(parsed.salt.length)));
  const hash = b64(crypto.getRandomValues(new Uint8Array(parsed.hash.length)));
  if (parsed.scheme === "sha512") return `$6$${salt}$${hash}`;
  return `${record.slice(0, record.indexOf("$", 1) + 1)}${parsed.iterations}$${salt}$${hash}`;
}

/**
 * Parses a password file; a bad line is an error naming the file, the line and the
 * fix. Lines starting with `#` are comments, as in Mosquitto.
 */
export function parsePasswordFile(text: string, fileName: string): Map<string, string> {
  const users = new Map<string, string>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const colon = line.indexOf(":");
    const record = line.slice(colon + 1);
    if (colon <= 0 || parseRecord(record) === null) {
      const user = colon > 0 ? line.slice(0, colon) : "USER";
      throw new Error(
        `${fileName}:${i + 1}: expected "user:${PREFIX}…" (written by deno task passwd) or a ` +
          `mosquitto_passwd record ("user:$7$…" or "user:$6$…"); set the password again with: ` +
          `deno task passwd ${fileName} ${user}`,
      );
    }
    users.set(line.slice(0, colon), record);
  });
  return users;
}

/** Serialises users back to the file format, sorted by name; records are kept as they are. */
export function formatPasswordFile(users: Map<string, string>): string {
  return [...users].sort(([a], [b]) => a.localeCompare(b)).map(([u, r]) => `${u}:${r}\n`).join("");
}
