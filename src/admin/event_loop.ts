/**
 * Event-loop delay: how late a timer fires compared to when it was due. A
 * broker whose loop is busy delays every client, so operators want this next
 * to the message rates.
 *
 * @module
 */

export class EventLoopMonitor {
  readonly #periodMs: number;
  #timer: number | undefined;
  #due = 0;
  /** Delay of the last tick and the highest since the last {@link takeMax}, in ms. */
  lastMs = 0;
  #maxMs = 0;

  constructor(periodMs = 250) {
    this.#periodMs = periodMs;
  }

  start(): void {
    const tick = () => {
      const now = performance.now();
      this.lastMs = Math.max(0, now - this.#due);
      if (this.lastMs > this.#maxMs) this.#maxMs = this.lastMs;
      this.#due = now + this.#periodMs;
      this.#timer = setTimeout(tick, this.#periodMs) as unknown as number;
      Deno.unrefTimer(this.#timer);
    };
    this.#due = performance.now() + this.#periodMs;
    this.#timer = setTimeout(tick, this.#periodMs) as unknown as number;
    Deno.unrefTimer(this.#timer);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The highest delay since the previous call. */
  takeMax(): number {
    const max = Math.max(this.#maxMs, this.lastMs);
    this.#maxMs = 0;
    return max;
  }
}
