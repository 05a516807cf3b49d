/**
 * A fixed-size log-linear histogram of latencies in microseconds: exact below
 * 128 µs, then 128 buckets per power of two (under 1% error), so recording
 * costs no allocation and memory stays bounded however long the run.
 */

const SUB_BUCKETS = 128;
const OCTAVES = 26; // 2^7 .. 2^32 µs

export class LatencyHistogram {
  readonly #counts = new Float64Array(SUB_BUCKETS * OCTAVES);
  #total = 0;
  #max = 0;

  get count(): number {
    return this.#total;
  }

  get max(): number {
    return this.#max;
  }

  record(us: number): void {
    const v = us <= 0 ? 0 : Math.min(Math.floor(us), 0xffffffff);
    if (v > this.#max) this.#max = v;
    this.#counts[bucketOf(v)]++;
    this.#total++;
  }

  /** The value at quantile `q` (0..1), as the midpoint of its bucket; 0 when empty. */
  quantile(q: number): number {
    if (this.#total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#total));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i];
      if (seen >= rank) return Math.min(midpointOf(i), this.#max);
    }
    return this.#max;
  }
}

function bucketOf(v: number): number {
  if (v < SUB_BUCKETS) return v;
  const exponent = 31 - Math.clz32(v); // >= 7
  const sub = Math.floor(v / 2 ** (exponent - 7)) - SUB_BUCKETS;
  return (exponent - 6) * SUB_BUCKETS + sub;
}

function midpointOf(index: number): number {
  if (index < SUB_BUCKETS) return index;
  const exponent = Math.floor(index / SUB_BUCKETS) + 6;
  const width = 2 ** (exponent - 7);
  const low = (SUB_BUCKETS + (index % SUB_BUCKETS)) * width;
  return low + (width - 1) / 2;
}
