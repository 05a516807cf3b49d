/**
 * Coalesces everything a connection sends during one microtask batch into a
 * single buffer and writes it with as few `conn.write` calls as possible. While
 * a write is in flight new bytes go to a second buffer, so producers never wait
 * for a syscall to append.
 */

export interface ByteSink {
  write(p: Uint8Array): Promise<number>;
}

export class CoalescingWriter {
  readonly #sink: ByteSink;
  // Small at first and grown on demand: a run with 10 000 mostly idle connections must not
  // allocate (and zero) a large buffer per connection.
  #buf = new Uint8Array(4096);
  #spare = new Uint8Array(4096);
  #len = 0;
  #busy = false;
  #drainWaiters: (() => void)[] = [];
  #error: Error | null = null;

  constructor(sink: ByteSink) {
    this.#sink = sink;
  }

  /** Bytes waiting to be written. */
  get pending(): number {
    return this.#len;
  }

  /** The first write error, if any; later appends are dropped. */
  get error(): Error | null {
    return this.#error;
  }

  /**
   * Makes room for `n` bytes and returns the buffer and offset to fill; the caller
   * must fill them before its next await.
   */
  reserve(n: number): { buf: Uint8Array; at: number } {
    if (this.#error) this.#len = 0; // the socket is gone: keep reusing the buffer instead of growing it
    if (this.#len + n > this.#buf.length) {
      const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    const at = this.#len;
    this.#len += n;
    this.#schedule();
    return { buf: this.#buf, at };
  }

  append(bytes: Uint8Array): void {
    const { buf, at } = this.reserve(bytes.length);
    buf.set(bytes, at);
  }

  /** Resolves once every byte appended so far has been handed to the socket (or writing failed). */
  drained(): Promise<void> {
    if (this.#len === 0 && !this.#busy) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #schedule(): void {
    if (this.#busy) return;
    this.#busy = true;
    // One flush per microtask batch: appends made in the same turn share a write.
    queueMicrotask(() => this.#flush());
  }

  async #flush(): Promise<void> {
    try {
      while (this.#len > 0 && this.#error === null) {
        const out = this.#buf;
        const n = this.#len;
        this.#buf = this.#spare;
        this.#len = 0;
        let off = 0;
        // conn.write may accept only part of the buffer: loop until all of it is written.
        while (off < n) off += await this.#sink.write(out.subarray(off, n));
        this.#spare = out;
      }
    } catch (err) {
      this.#error = err instanceof Error ? err : new Error(String(err));
      this.#len = 0;
    }
    this.#busy = false;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }
}
