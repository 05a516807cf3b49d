/**
 * Password files: one `user:record` line per user, where the record is
 * `$pbkdf2-sha512$<iterations>$<salt base64>$<hash base64>` (PBKDF2-SHA-512 via
 * Web Crypto, 16-byte random salt, 64-byte hash). The iteration count lives in
 * the record so it can be raised later without invalidating old entries.
 *
 * @module
 */

export const DEFAULT_ITERATIONS = 210_000;
const PREFIX = "$pbkdf2-sha512$";
const encoder = new TextEncoder();

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

async function derive(password: Uint8Array, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  // Web Crypto wants ArrayBuffer-backed views: copy (these are a few bytes).
  const key = await crypto.subtle.importKey("raw", new Uint8Array(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-512", salt: new Uint8Array(salt), iterations },
    key,
    512,
  );
  return new Uint8Array(bits);
}

/** A new record for `password`. */
export async function hashPassword(password: string, iterations = DEFAULT_ITERATIONS): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await derive(encoder.encode(password), salt, iterations);
  return `${PREFIX}${iterations}$${b64(salt)}$${b64(hash)}`;
}

/** Compares in time independent of where the inputs differ. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Whether `password` matches the record; a malformed record never matches. */
export async function verifyPassword(password: Uint8Array | string, record: string): Promise<boolean> {
  if (!record.startsWith(PREFIX)) return false;
  const [iterations, salt, hash] = record.slice(PREFIX.length).split("$");
  const n = Number(iterations);
  if (!Number.isInteger(n) || n < 1 || !salt || !hash) return false;
  try {
    const bytes = typeof password === "string" ? encoder.encode(password) : password;
    return constantTimeEqual(await derive(bytes, unb64(salt), n), unb64(hash));
  } catch {
    return false;
  }
}

/** Parses a password file; a bad line is an error naming the file, the line and the fix. */
export function parsePasswordFile(text: string, fileName: string): Map<string, string> {
  const users = new Map<string, string>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const colon = line.indexOf(":");
    if (colon <= 0 || !line.slice(colon + 1).startsWith(PREFIX)) {
      throw new Error(
        `${fileName}:${
          i + 1
        }: expected "user:${PREFIX}…" (create entries with: deno task passwd ${fileName} USER)`,
      );
    }
    users.set(line.slice(0, colon), line.slice(colon + 1));
  });
  return users;
}

/** Serialises users back to the file format, sorted by name. */
export function formatPasswordFile(users: Map<string, string>): string {
  return [...users].sort(([a], [b]) => a.localeCompare(b)).map(([u, r]) => `${u}:${r}\n`).join("");
}
