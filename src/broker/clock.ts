/**
 * Time, injected into the engine so that keep-alive, expiry and will-delay tests
 * advance a manual clock instead of sleeping.
 *
 * @module
 */

/** An opaque timer handle returned by {@link Clock.setTimer}. */
export type TimerHandle = number | { readonly id: number };

/** The engine's only source of time. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. Timers must not keep the process alive. */
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** The real clock. Its timers are unref'd so a broker never keeps a process alive by itself. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const id = setTimeout(fn, ms) as unknown as number;
    // Deno-only API, guarded so the engine still runs on other Web-standard runtimes.
    (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno?.unrefTimer?.(id);
    return id;
  },
  clearTimer(handle) {
    clearTimeout(handle as number);
  },
};

/**
 * A clock that moves only when told to.
 *
 * @example
 * ```ts
 * import { ManualClock } from "./clock.ts";
 * const clock = new ManualClock(0);
 * let fired = false;
 * clock.setTimer(() => fired = true, 1000);
 * clock.advance(1000);
 * console.assert(fired);
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    this.#timers.delete(typeof handle === "number" ? handle : handle.id);
  }

  /** Moves time forward, firing due timers in time order (timers set by timers fire too). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let nextId = -1;
      let nextAt = Infinity;
      for (const [id, t] of this.#timers) {
        if (t.at <= target && t.at < nextAt) {
          nextAt = t.at;
          nextId = id;
        }
      }
      if (nextId < 0) break;
      const timer = this.#timers.get(nextId)!;
      this.#timers.delete(nextId);
      this.#now = Math.max(this.#now, timer.at);
      timer.fn();
    }
    this.#now = target;
  }

  /** Number of pending timers (for tests that check nothing leaks). */
  get pendingTimers(): number {
    return this.#timers.size;
  }
}
