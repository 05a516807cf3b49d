/**
 * Ownership of a KV file: one broker process at a time. The owner keeps a
 * lock record with a lease and renews it; a second process fails at start with
 * a clear message instead of contending for the file. A lock left by a process
 * that died (kill -9) is taken over at once when that process is gone from this
 * machine, else after its lease expires.
 *
 * @module
 */
import { LOCK_KEY } from "./kv_keys.ts";

interface LockRecord {
  owner: string;
  pid: number;
  host: string;
  expiresAt: number;
}

const LEASE_MS = 15_000;
const RENEW_MS = 5_000;

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/** Whether a process id is alive on this machine (Linux /proc; unknown elsewhere = assume alive). */
function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (err) {
    return !(err instanceof Deno.errors.NotFound);
  }
}

export class KvLock {
  readonly #kv: Deno.Kv;
  readonly #path: string;
  readonly #owner = crypto.randomUUID();
  #timer: number | undefined;

  constructor(kv: Deno.Kv, path: string) {
    this.#kv = kv;
    this.#path = path;
  }

  async acquire(): Promise<void> {
    const host = hostName();
    let current: Deno.KvEntryMaybe<LockRecord>;
    try {
      current = await this.#kv.get<LockRecord>(LOCK_KEY);
    } catch (err) {
      throw this.#inUse(`${(err as Error).message}`);
    }
    const held = current.value;
    if (held && held.owner !== this.#owner && held.expiresAt > Date.now()) {
      const stale = held.host === host && held.pid !== Deno.pid && !processAlive(held.pid);
      if (!stale) throw this.#inUse(`held by process ${held.pid} on ${held.host}`);
    }
    const record: LockRecord = { owner: this.#owner, pid: Deno.pid, host, expiresAt: Date.now() + LEASE_MS };
    const result = await this.#kv.atomic().check(current).set(LOCK_KEY, record).commit();
    if (!result.ok) throw this.#inUse("another process took it at the same moment");
    this.#timer = setInterval(() => this.#renew(), RENEW_MS) as unknown as number;
    Deno.unrefTimer(this.#timer);
  }

  async #renew(): Promise<void> {
    try {
      const record: LockRecord = {
        owner: this.#owner,
        pid: Deno.pid,
        host: hostName(),
        expiresAt: Date.now() + LEASE_MS,
      };
      await this.#kv.set(LOCK_KEY, record);
    } catch {
      // The KV was closed under us (shutdown); nothing to renew.
    }
  }

  async release(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    try {
      const current = await this.#kv.get<LockRecord>(LOCK_KEY);
      if (current.value?.owner === this.#owner) {
        await this.#kv.atomic().check(current).delete(LOCK_KEY).commit();
      }
    } catch {
      // closing anyway
    }
  }

  #inUse(detail: string): Error {
    return new Error(
      `the KV store ${this.#path} is in use by another broker process (${detail}); ` +
        `stop that broker or set persistence.path to another file`,
    );
  }
}
