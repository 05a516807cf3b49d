/**
 * The configured authentication policy: anonymous access per listener, users
 * from a password file, verified client certificates, and a limit on failed
 * attempts per (address, user name). Successful slow-hash verifications are
 * cached briefly so a reconnect storm does not burn the CPU.
 *
 * A user name that is not in the file costs what a wrong password costs: it is
 * verified against a decoy record of the file's most common format and cost, so the
 * time to answer does not tell which user names exist.
 *
 * @module
 */
import type { Authenticator, AuthResult, ConnectedClient, ConnectInfo } from "../broker/security.ts";
import { decoyRecord, parsePasswordFile, recordCost, verifyPassword } from "./password_file.ts";
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
const NO_PASSWORD = new Uint8Array(0);

async function digest(username: string, password: Uint8Array, record: string): Promise<string> {
  const bytes = new Uint8Array([
    ...new TextEncoder().encode(`${username}\u0000${record}\u0000`),
    ...password,
  ]);
  return btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))));
}

/** A decoy of the most common (format, cost) among the records; undefined without users. */
function decoyFor(users: Map<string, string>): string | undefined {
  const counts = new Map<string, { record: string; n: number }>();
  for (const record of users.values()) {
    const cost = recordCost(record);
    const found = counts.get(cost);
    if (found) found.n++;
    else counts.set(cost, { record, n: 1 });
  }
  let best: { record: string; n: number } | undefined;
  for (const c of counts.values()) if (best === undefined || c.n > best.n) best = c;
  return best === undefined ? undefined : decoyRecord(best.record);
}

export class FileAuthenticator implements Authenticator {
  readonly #options: FileAuthenticatorOptions;
  readonly #limiter: FailedAuthLimiter;
  #users = new Map<string, string>();
  #decoy: string | undefined;
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
    this.#decoy = decoyFor(this.#users);
    this.#verified.clear();
  }

  get userCount(): number {
    return this.#users.size;
  }

  /** The user's password record, if the file has one. */
  recordOf(username: string): string | undefined {
    return this.#users.get(username);
  }

  /** Whether clients without a user name may connect on `listener`. */
  allowsAnonymous(listener: string): boolean {
    return this.#options.allowAnonymous(listener);
  }

  async authenticate(info: ConnectInfo): Promise<AuthResult> {
    const username = info.username;
    // No user name, no secret to guess: the listener's policy decides and nothing is counted.
    if (username === undefined) {
      return this.#options.allowAnonymous(info.listener)
        ? { ok: true }
        : { ok: false, reason: "not_authorized" };
    }
    // A user name taken from a verified client certificate is authenticated by it.
    if (username === info.certificateIdentity) return { ok: true, username };
    if (this.#limiter.blocked(info.remoteAddress, username)) return { ok: false, reason: "banned" };
    const ok = await this.#verify(username, info.password);
    if (ok) {
      this.#limiter.succeed(info.remoteAddress, username);
      return { ok: true, username };
    }
    this.#limiter.fail(info.remoteAddress, username);
    return { ok: false, reason: "bad_credentials" };
  }

  /** The same steps, at the same cost, whether or not the user exists. */
  async #verify(username: string, password: Uint8Array | undefined): Promise<boolean> {
    const known = this.#users.get(username);
    const record = known ?? this.#decoy;
    // No users at all: there is no user name to find out about.
    if (record === undefined) return false;
    const key = await digest(username, password ?? NO_PASSWORD, record);
    const until = this.#verified.get(key);
    if (known !== undefined && password !== undefined && until !== undefined && until > Date.now()) {
      return true;
    }
    const matches = await verifyPassword(password ?? NO_PASSWORD, record);
    if (!matches || known === undefined || password === undefined) return false;
    if (this.#verified.size >= CACHE_LIMIT) this.#verified.clear();
    this.#verified.set(key, Date.now() + (this.#options.cacheMs ?? 300_000));
    return true;
  }
}

/**
 * After a reload, whether a connected client's credentials no longer hold: its user's
 * entry was removed or changed (a new password or hash: the password the client sent is
 * not kept, so any change counts), or it is anonymous on a listener that no longer
 * allows that. Clients that authenticated with a client certificate keep their access,
 * and so do user names the old file did not hold (authenticated by something else).
 */
export function credentialsRevoked(
  before: FileAuthenticator,
  after: FileAuthenticator,
): (client: ConnectedClient) => boolean {
  return (client) => {
    if (client.username === undefined) return !after.allowsAnonymous(client.listener);
    if (client.username === client.certificateIdentity) return false;
    const old = before.recordOf(client.username);
    return old !== undefined && after.recordOf(client.username) !== old;
  };
}
