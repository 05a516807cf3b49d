/**
 * The bytes that packets still being received may hold, across every
 * connection of a broker: one budget shared by all their framers. A packet's
 * declared length costs nothing until its bytes arrive; what they fill is
 * reserved here and given back when the packet is complete or abandoned.
 *
 * @module
 */

export class ReceiveBudget {
  /** Bytes that may be held at once; may be changed while running (a configuration reload). */
  limit: number;
  #used = 0;

  constructor(limit: number) {
    if (!(limit >= 0)) throw new RangeError(`receive budget must be >= 0, got ${limit}`);
    this.limit = limit;
  }

  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }

  /** Reserves `n` bytes; false, reserving nothing, when that would pass the limit. */
  reserve(n: number): boolean {
    if (this.#used + n > this.limit) return false;
    this.#used += n;
    return true;
  }

  /** Gives back `n` bytes reserved earlier. */
  release(n: number): void {
    this.#used -= n;
    if (this.#used < 0) throw new RangeError("receive budget released more than it reserved");
  }
}
