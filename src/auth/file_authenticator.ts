/**
 * The configured authentication policy: anonymous access per listener, users
 * from a password file, verified client certificates, and a per-address limit
 * on failed attempts. Successful slow-hash verifications are cached briefly so a
 * reconnect storm does not burn the CPU.
 *
 * @module
 */
import type { Authenticator, AuthResult, ConnectInfo } from "../broker/security.ts";
import { parsePasswordFile, verifyPassword } from "./password_file.ts";
import { FailedAuthLimiter } from "./rate_limit.ts";

export interface FileAuthenticatorOptions {
  /** Password file path; without one, only anonymous and certificate clients get in. */
  passwordFile?: string;
  /**
   * The same content as text, for hosts without files (serverless: from an environment
   * variable). Used when `passwordFile` is not set.
   */
  passwordText?: string;
  /** Whether clients without a user name may connect on this listener. */
  allowAnonymous: (listener: string) => boolean;
  limiter?: FailedAuthLimiter;
  /** How long a successful verification is remembered (default 5 minutes). */
  cacheMs?: number;
}

const CACHE_LIMIT = 10_000;

async function digest(username: string, password: Uint8Array, record: string): Promise<string> {
  const bytes = new Uint8Array([
    ...new TextEncoder().encode(`${username}\u0000${record}\u0000`),
    ...password,
  ]);
  return btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))));
}

export class FileAuthenticator implements Authenticator {
  readonly #options: FileAuthenticatorOptions;
  readonly #limiter: FailedAuthLimiter;
  #users = new Map<string, string>();
  /** digest of (user, password, record) → time the verification expires. */
  readonly #verified = new Map<string, number>();

  constructor(options: FileAuthenticatorOptions) {
    this.#options = options;
    this.#limiter = options.limiter ?? new FailedAuthLimiter();
  }

  /** Reads the password file (at start and on SIGHUP). */
  async reload(): Promise<void> {
    const { passwordFile: path, passwordText: text } = this.#options;
    if (path) this.#users = parsePasswordFile(await Deno.readTextFile(path), path);
    else this.#users = text === undefined ? new Map() : parsePasswordFile(text, "password text");
    this.#verified.clear();
  }

  get userCount(): number {
    return this.#users.size;
  }

  async authenticate(info: ConnectInfo): Promise<AuthResult> {
    if (this.#limiter.blocked(info.remoteAddress)) return { ok: false, reason: "banned" };
    const result = await this.#check(info);
    if (result.ok) this.#limiter.succeed(info.remoteAddress);
    else this.#limiter.fail(info.remoteAddress);
    return result;
  }

  async #check(info: ConnectInfo): Promise<AuthResult> {
    if (info.username === undefined) {
      return this.#options.allowAnonymous(info.listener)
        ? { ok: true }
        : { ok: false, reason: "not_authorized" };
    }
    // A user name taken from a verified client certificate is authenticated by it.
    if (info.username === info.certificateIdentity) return { ok: true, username: info.username };
    const record = this.#users.get(info.username);
    if (record === undefined || info.password === undefined) return { ok: false, reason: "bad_credentials" };
    const key = await digest(info.username, info.password, record);
    const until = this.#verified.get(key);
    if (until !== undefined && until > Date.now()) return { ok: true, username: info.username };
    if (!await verifyPassword(info.password, record)) return { ok: false, reason: "bad_credentials" };
    if (this.#verified.size >= CACHE_LIMIT) this.#verified.clear();
    this.#verified.set(key, Date.now() + (this.#options.cacheMs ?? 300_000));
    return { ok: true, username: info.username };
  }
}
