/**
 * Group commit: many callers' writes gathered for a short window into one
 * write. Each caller's promise settles only when the write holding its items
 * has settled, and writes happen one after another in submission order.
 *
 * One caller's items must not fail everyone's: when a group write fails (and the
 * writer says nothing of it was applied), each caller's items are written again on
 * their own, in order, so only the callers whose own write fails are rejected.
 *
 * @module
 */

export interface GroupCommitOptions {
  /**
   * How long the first item of a batch waits for company, in ms. 0 writes at the end of
   * the current turn (everything submitted in that turn, e.g. one read's worth of packets,
   * goes together); while a write is in flight new items always wait for it and go next.
   */
  windowMs: number;
  /** A batch this large is written at once, without waiting for the window. */
  maxItems: number;
  /**
   * Whether a failed group write may be retried caller by caller: true when the failure
   * left nothing applied. Default: never retry (every caller of the group is rejected).
   */
  retryAlone?: (err: unknown) => boolean;
}

interface Pending<T> {
  items: T[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommitter<T> {
  readonly #write: (items: T[]) => Promise<void>;
  readonly #options: GroupCommitOptions;
  #queue: Pending<T>[] = [];
  #queued = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> | null = null;
  #dueNow = false;
  /** Number of writes performed (for tests and metrics). */
  writes = 0;

  constructor(write: (items: T[]) => Promise<void>, options: GroupCommitOptions) {
    this.#write = write;
    this.#options = options;
  }

  /** Adds items to the current batch; resolves once they are written. */
  submit(items: T[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ items, resolve, reject });
      this.#queued += items.length;
      if (this.#queued >= this.#options.maxItems) this.#kick(0);
      else this.#kick(this.#options.windowMs);
    });
  }

  #kick(delay: number): void {
    if (this.#writing !== null || this.#dueNow) return; // the running write starts the next batch
    if (delay === 0) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#dueNow = true;
      queueMicrotask(() => {
        this.#dueNow = false;
        this.#run();
      });
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#run();
    }, delay);
  }

  #run(): void {
    if (this.#queue.length === 0) return;
    const batch = this.#queue;
    this.#queue = [];
    this.#queued = 0;
    const items = batch.length === 1 ? batch[0].items : batch.flatMap((p) => p.items);
    this.writes++;
    this.#writing = this.#write(items).then(
      () => batch.forEach((p) => p.resolve()),
      (err) => this.#failed(batch, err),
    ).finally(() => {
      this.#writing = null;
      // Whatever queued up meanwhile goes at once: it has already waited one write.
      if (this.#queue.length > 0) this.#kick(0);
    });
  }

  /** A group write failed: each caller alone, in order, when that is safe; else all fail. */
  async #failed(batch: Pending<T>[], err: unknown): Promise<void> {
    if (batch.length === 1 || !(this.#options.retryAlone?.(err) ?? false)) {
      batch.forEach((p) => p.reject(err));
      return;
    }
    for (const p of batch) {
      this.writes++;
      try {
        await this.#write(p.items);
        p.resolve();
      } catch (own) {
        p.reject(own);
      }
    }
  }

  /** Resolves when everything submitted so far is written. */
  async drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#writing !== null || this.#timer !== undefined || this.#dueNow) {
      if (this.#timer !== undefined && this.#writing === null) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#run();
      }
      await (this.#writing ?? Promise.resolve());
    }
  }
}
