/**
 * Failed authentication attempts per remote address: after `maxFailures`
 * within `windowMs`, further attempts from that address are refused without
 * checking for `blockMs`. Memory is bounded: at most `maxAddresses` are tracked.
 *
 * @module
 */

export interface RateLimitOptions {
  maxFailures?: number;
  windowMs?: number;
  blockMs?: number;
  maxAddresses?: number;
  now?: () => number;
}

interface Entry {
  failures: number[];
  blockedUntil: number;
}

/** The host part of "host:port" (IPv6 in brackets or not). */
export function hostOf(address: string): string {
  const bracket = address.match(/^\[(.*)\]:\d+$/);
  if (bracket) return bracket[1];
  const i = address.lastIndexOf(":");
  return i > 0 && address.indexOf(":") === i ? address.slice(0, i) : address;
}

export class FailedAuthLimiter {
  readonly #max: number;
  readonly #window: number;
  readonly #block: number;
  readonly #maxAddresses: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();

  constructor(options: RateLimitOptions = {}) {
    this.#max = options.maxFailures ?? 5;
    this.#window = options.windowMs ?? 60_000;
    this.#block = options.blockMs ?? 60_000;
    this.#maxAddresses = options.maxAddresses ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** True while the address is blocked. */
  blocked(address: string): boolean {
    const entry = this.#entries.get(hostOf(address));
    return entry !== undefined && entry.blockedUntil > this.#now();
  }

  /** Records a failed attempt; blocks the address once it reaches the limit. */
  fail(address: string): void {
    const host = hostOf(address);
    const now = this.#now();
    let entry = this.#entries.get(host);
    if (entry === undefined) {
      if (this.#entries.size >= this.#maxAddresses) {
        // Evict the oldest tracked address (Map keeps insertion order).
        this.#entries.delete(this.#entries.keys().next().value!);
      }
      entry = { failures: [], blockedUntil: 0 };
      this.#entries.set(host, entry);
    }
    entry.failures = entry.failures.filter((t) => t > now - this.#window);
    entry.failures.push(now);
    if (entry.failures.length >= this.#max) entry.blockedUntil = now + this.#block;
  }

  /** A success clears the address's record. */
  succeed(address: string): void {
    this.#entries.delete(hostOf(address));
  }

  get tracked(): number {
    return this.#entries.size;
  }
}
