/**
 * Loop prevention of last resort, for a 3.1.1 remote that refused the bridge bit
 * (so it cannot be told to keep a bridge's own messages from it): the bridge
 * remembers what it sent out for a short while, and a message that comes back
 * from the remote with the same topic and payload within that time is taken as
 * the echo of one it sent, and dropped once per copy sent.
 *
 * @module
 */

/** FNV-1a over the payload bytes: enough to tell messages apart, not a security measure. */
function payloadHash(payload: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < payload.length; i++) {
    h ^= payload[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class EchoFilter {
  readonly #ttlMs: number;
  readonly #capacity: number;
  readonly #now: () => number;
  /** Messages sent recently, by topic and payload, with how many copies and when last. */
  readonly #recent = new Map<string, { copies: number; at: number }>();

  constructor(options: { ttlMs?: number; capacity?: number; now?: () => number } = {}) {
    this.#ttlMs = options.ttlMs ?? 10_000;
    this.#capacity = options.capacity ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  #key(topic: string, payload: Uint8Array): string {
    return `${topic}\u0000${payload.length}:${payloadHash(payload)}`;
  }

  /** Records a message the bridge sent to the remote. */
  sent(topic: string, payload: Uint8Array): void {
    const key = this.#key(topic, payload);
    const found = this.#recent.get(key);
    // Re-inserting keeps the map in order of last use, so the oldest entry is evicted first.
    this.#recent.delete(key);
    this.#recent.set(key, { copies: (found?.copies ?? 0) + 1, at: this.#now() });
    if (this.#recent.size > this.#capacity) this.#recent.delete(this.#recent.keys().next().value!);
  }

  /** Whether a message from the remote is the echo of one sent (consumes one copy). */
  isEcho(topic: string, payload: Uint8Array): boolean {
    const key = this.#key(topic, payload);
    const found = this.#recent.get(key);
    if (found === undefined) return false;
    if (this.#now() - found.at > this.#ttlMs) {
      this.#recent.delete(key);
      return false;
    }
    if (--found.copies === 0) this.#recent.delete(key);
    return true;
  }
}
