/**
 * Failed logins per (client address, user name): after `maxFailures` within
 * `windowMs`, further attempts at that user name from that address are refused
 * without checking, for `blockMs`. Keyed by both so that one guesser behind a NAT
 * locks out only the account it guesses at, never the other users of the address,
 * and a success on one account (the guesser's own) clears nothing on another.
 * Memory is bounded: at most `maxEntries` pairs are tracked.
 *
 * @module
 */

export interface RateLimitOptions {
  maxFailures?: number;
  windowMs?: number;
  blockMs?: number;
  /** Tracked (address, user name) pairs; the oldest is forgotten past it. */
  maxEntries?: number;
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

const keyOf = (address: string, username: string) => `${hostOf(address)}\u0000${username}`;

export class FailedAuthLimiter {
  readonly #max: number;
  readonly #window: number;
  readonly #block: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();

  constructor(options: RateLimitOptions = {}) {
    this.#max = options.maxFailures ?? 5;
    this.#window = options.windowMs ?? 60_000;
    this.#block = options.blockMs ?? 60_000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** True while attempts at `username` from the address are refused. */
  blocked(address: string, username: string): boolean {
    const entry = this.#entries.get(keyOf(address, username));
    return entry !== undefined && entry.blockedUntil > this.#now();
  }

  /** Records a failed attempt; blocks the pair once it reaches the limit. */
  fail(address: string, username: string): void {
    const key = keyOf(address, username);
    const now = this.#now();
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      if (this.#entries.size >= this.#maxEntries) {
        // Evict the oldest tracked pair (Map keeps insertion order).
        this.#entries.delete(this.#entries.keys().next().value!);
      }
      entry = { failures: [], blockedUntil: 0 };
      this.#entries.set(key, entry);
    }
    entry.failures = entry.failures.filter((t) => t > now - this.#window);
    entry.failures.push(now);
    if (entry.failures.length >= this.#max) entry.blockedUntil = now + this.#block;
  }

  /** A success clears that pair's record, and only that pair's. */
  succeed(address: string, username: string): void {
    this.#entries.delete(keyOf(address, username));
  }

  get tracked(): number {
    return this.#entries.size;
  }
}
