/**
 * Reconnect delays: exponential from a minimum to a maximum, with jitter so that
 * many bridges cut off by the same outage do not all knock at the same instant.
 *
 * @module
 */

/** Delay bounds in milliseconds. */
export interface BackoffOptions {
  minMs: number;
  maxMs: number;
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry): the
 * exponential ceiling min·2^attempt capped at max, of which a random half to
 * all is used ("equal jitter": never shorter than half the ceiling).
 *
 * @example
 * ```ts
 * import { backoffDelay } from "./backoff.ts";
 * const ms = backoffDelay(3, { minMs: 100, maxMs: 10_000 }, () => 1);
 * console.assert(ms === 800);
 * ```
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxMs, options.minMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
