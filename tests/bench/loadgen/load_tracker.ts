/**
 * The bookkeeping of one load run: what was published and acknowledged per
 * publisher, which (subscriber, publisher, sequence) triples arrived (a bitmap,
 * so duplicates and loss are exact), latencies, and the run's stop state.
 */
import { LatencyHistogram } from "./latency_histogram.ts";
import type { LoadClient } from "./load_client.ts";
import { type LoadOptions, receiversPerMessage } from "./options.ts";
import type { LoadProgress, LoadSummary } from "./load_run.ts";
import { Header, writeAck } from "./wire.ts";

export class LoadTracker {
  readonly #o: LoadOptions;
  /** Subscribers per message: o.subs, or 1 in ring mode (each topic has one subscriber). */
  readonly #receivers: number;
  readonly #seen: Uint8Array;
  readonly #latency = new LatencyHistogram();
  /** Deliveries per publisher, summed over subscribers (drives the window). */
  readonly #deliveredFrom: Float64Array;
  /** Extra room granted to a publisher after a window stall. */
  readonly #released: Float64Array;
  readonly inflight: Int32Array;
  readonly expected: number;
  published = 0;
  acked = 0;
  delivered = 0;
  duplicates = 0;
  stalls = 0;
  #start = 0;
  #lastDelivery = 0;
  #error: string | undefined;
  #stopped = false;
  #wake: (() => void) | null = null;
  #woken: Promise<void> | null = null;

  constructor(o: LoadOptions) {
    this.#o = o;
    this.#receivers = receiversPerMessage(o);
    this.expected = o.pubs * o.count * this.#receivers;
    this.#seen = new Uint8Array(Math.ceil(this.expected / 8));
    this.#deliveredFrom = new Float64Array(o.pubs);
    this.#released = new Float64Array(o.pubs);
    this.inflight = new Int32Array(o.pubs);
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  start(): void {
    this.#start = performance.now();
    this.#lastDelivery = this.#start;
  }

  elapsedMs(): number {
    return performance.now() - this.#start;
  }

  /** Ends the run early with an error (the first one wins). */
  fail(reason: string): void {
    this.#error ??= reason;
    this.stop();
  }

  stop(): void {
    this.#stopped = true;
    this.notify();
  }

  /** Records one received PUBLISH; `sentAt` is the publisher's performance.now(). */
  deliver(sub: number, pub: number, seq: number, sentAt: number): void {
    const o = this.#o;
    if (pub >= o.pubs || seq >= o.count) return; // not ours: ignore
    // In ring mode subscriber `sub` only receives from publisher sub-1, so the bitmap needs no sub axis.
    const bit = (this.#receivers === 1 ? pub : sub * o.pubs + pub) * o.count + seq;
    const mask = 1 << (bit & 7);
    const byte = bit >>> 3;
    if (this.#seen[byte] & mask) {
      this.duplicates++;
      return;
    }
    this.#seen[byte] |= mask;
    const now = performance.now();
    this.#latency.record((now - sentAt) * 1000);
    this.#lastDelivery = now;
    this.#deliveredFrom[pub]++;
    this.delivered++;
  }

  /** The ack side of a publisher's QoS 1/2 flow. */
  onPublisherFrame(c: LoadClient, first: number, data: Uint8Array, start: number): void {
    const type = first & 0xf0;
    if (type === Header.PUBACK || type === Header.PUBCOMP) {
      const index = this.#publisherOf.get(c);
      if (index !== undefined) this.inflight[index]--;
      this.acked++;
    } else if (type === Header.PUBREC) {
      const { buf, at } = c.writer.reserve(4);
      writeAck(buf, at, Header.PUBREL, (data[start] << 8) | data[start + 1]);
    }
  }

  readonly #publisherOf = new Map<LoadClient, number>();

  registerPublisher(c: LoadClient, index: number): void {
    this.#publisherOf.set(c, index);
  }

  /** How many more messages publisher `index` may send before it is `window` ahead of its subscribers. */
  windowRoom(index: number, seq: number): number {
    const behind = Math.floor(this.#deliveredFrom[index] / this.#receivers) + this.#released[index];
    return this.#o.window - (seq - behind);
  }

  releaseWindow(index: number): void {
    this.#released[index] += this.#o.window;
    this.stalls++;
  }

  /** Changes whenever anything arrives: waiting loops compare it to see progress. */
  progressMark(): number {
    return this.delivered + this.duplicates + this.acked;
  }

  /** Wakes every waiter (called after each read chunk and on stop). */
  notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    this.#woken = null;
    wake?.();
  }

  /** Resolves at the next notify() or after `ms`. */
  waitProgress(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#woken ??= new Promise<void>((resolve) => this.#wake = resolve);
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      this.#woken,
      new Promise<void>((resolve) => timer = setTimeout(resolve, ms)),
    ]).finally(() => clearTimeout(timer));
  }

  complete(): boolean {
    const allAcked = this.#o.qos === 0 || this.acked >= this.published;
    return this.delivered >= this.expected && allAcked;
  }

  progress(): LoadProgress {
    return {
      secs: this.elapsedMs() / 1000,
      published: this.published,
      delivered: this.delivered,
      expected: this.expected,
      acked: this.acked,
    };
  }

  summary(): LoadSummary {
    const secs = Math.max(0, (this.#lastDelivery - this.#start) / 1000);
    const h = this.#latency;
    return {
      delivered: this.delivered,
      expected: this.expected,
      rate: secs > 0 ? Math.round(this.delivered / secs) : 0,
      p50_us: Math.round(h.quantile(0.5)),
      p95_us: Math.round(h.quantile(0.95)),
      p99_us: Math.round(h.quantile(0.99)),
      max_us: h.max,
      loss: this.expected - this.delivered,
      duplicates: this.duplicates,
      published: this.published,
      acked: this.acked,
      stalls: this.stalls,
      secs: Number(secs.toFixed(3)),
      ...(this.#error === undefined ? {} : { error: this.#error }),
    };
  }
}
