/**
 * Time, injected into the engine so that keep-alive, expiry and will-delay tests
 * advance a manual clock instead of sleeping.
 *
 * @module
 */

/**
 * An opaque timer handle returned by {@link Clock.setTimer}.
 *
 * @example
 * ```ts
 * import { systemClock, type TimerHandle } from "../mod.ts";
 * const timer: TimerHandle = systemClock.setTimer(() => {}, 1000);
 * systemClock.clearTimer(timer);
 * ```
 */
export type TimerHandle = number | { readonly id: number };

/**
 * The engine's only source of time: keep-alive, expiry, will delays and hook timeouts
 * all run on it.
 *
 * @example
 * ```ts
 * import { Broker, type Clock, ManualClock } from "../mod.ts";
 * const clock: Clock = new ManualClock();
 * const broker = new Broker({ clock });
 * await broker.close();
 * ```
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. Timers must not keep the process alive. */
  setTimer(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer that has not fired yet. */
  clearTimer(handle: TimerHandle): void;
}

/**
 * The longest delay `setTimeout` takes: 2^31-1 ms (~24.8 days). A larger one fires after
 * 1 ms, which turned a v5 Session Expiry Interval of 30 days into an immediate expiry.
 */
export const LONGEST_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * A timer longer than one `setTimeout` can wait: a chain of waits, each at most the
 * longest allowed, until the deadline. `id` is the wait currently pending.
 */
class ChainedTimer {
  id = 0;
  readonly #deadline: number;
  readonly #fn: () => void;
  readonly #longest: number;

  constructor(fn: () => void, ms: number, longest: number) {
    this.#fn = fn;
    this.#longest = longest;
    this.#deadline = Date.now() + ms;
    this.#wait(ms);
  }

  #wait(ms: number): void {
    this.id = unrefTimeout(() => this.#hop(), Math.min(ms, this.#longest));
  }

  #hop(): void {
    // Measured against the wall clock at every hop, so a hop that fired late does not add up.
    const left = this.#deadline - Date.now();
    if (left > 0) this.#wait(left);
    else this.#fn();
  }
}

/** A setTimeout that does not keep the process alive (its handle is what setTimeout returned). */
function unrefTimeout(fn: () => void, ms: number): number {
  const id = setTimeout(fn, ms) as unknown as number;
  // Deno-only API, guarded so the engine still runs on other Web-standard runtimes.
  (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno?.unrefTimer?.(id);
  return id;
}

/**
 * A real clock whose single waits are at most `longestTimeoutMs` (tests lower it to check
 * the chaining in milliseconds rather than weeks). Its timers are unref'd so a broker never
 * keeps a process alive by itself, and any delay is honoured, up to the 0xFFFFFFFE seconds
 * a Session Expiry or Will Delay Interval can ask for.
 */
export function realClock(longestTimeoutMs = LONGEST_TIMEOUT_MS): Clock {
  return {
    now: () => Date.now(),
    setTimer(fn, ms) {
      if (!(ms > 0)) ms = 0; // NaN and negative delays fire at once, as setTimeout does
      if (ms <= longestTimeoutMs) return unrefTimeout(fn, ms);
      return new ChainedTimer(fn, ms, longestTimeoutMs);
    },
    clearTimer(handle) {
      clearTimeout(handle instanceof ChainedTimer ? handle.id : handle as number);
    },
  };
}

/**
 * The real clock (the default of every broker).
 *
 * @example
 * ```ts
 * import { systemClock } from "../mod.ts";
 * console.log(new Date(systemClock.now()).toISOString());
 * ```
 */
export const systemClock: Clock = realClock();

/**
 * A clock that moves only when told to.
 *
 * @example
 * ```ts
 * import { ManualClock } from "../mod.ts";
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

  /** A clock standing at `start` (ms since the epoch). */
  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  /** The time it stands at. */
  now(): number {
    return this.#now;
  }

  /** Calls `fn` once the clock has been advanced by `ms`. */
  setTimer(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return { id };
  }

  /** Cancels a timer that has not fired yet. */
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
