/**
 * Publisher pacing: a publisher whose last batch of messages queued behind a subscriber's
 * full in-flight window, past `limits.pace_publishers_at` messages, reads its next batch only
 * once that queue is down to half of it again.
 *
 * Why: a publisher's QoS 1 loop (PUBLISH, PUBACK) does not wait for any subscriber, so as soon
 * as this broker takes messages in faster than one subscriber acknowledges them, a queue
 * forms in front of that subscriber and then stays: both loops run at the same pace after,
 * and every later message waits behind it (1:1 QoS 1 at full load: p99 5–27 ms with a median
 * of 2 ms, against 0.8–1.2 ms paced; docs/benchmarks.md, 2026-12-05). Waiting to read keeps
 * the messages in the publisher's own window and socket, which TCP already bounds.
 *
 * A subscriber that does not drain within {@link PACING_WAIT_MS} is stalled, not slow: pacing
 * gives up on it until its queue is down to the low mark again, so that a client that stopped
 * reading costs each publisher one short wait, not a wait per batch (its queue then fills and
 * drops as without pacing). A publisher never waits for its own session.
 *
 * @module
 */
import type { Clock } from "./clock.ts";

/** What pacing reads of a session (session.ts holds a {@link PacingState}: no import back). */
export interface PacedSession {
  readonly queue: { readonly length: number };
  readonly link: unknown;
  pacing: PacingState | null;
}

/** How long a publisher waits at most for one subscriber's queue to drain. */
export const PACING_WAIT_MS = 50;

/** A session's pacing state, made when its queue first passes the mark. */
export class PacingState {
  /** Publishers waiting for the queue to drain. */
  readonly waiters: (() => void)[] = [];
  /** The queue did not drain in time: not waited for until it does. */
  stalled = false;
}

/**
 * The session whose queue passed the mark during the batch being handled. One batch is
 * handled at a time in the process (synchronously), so one slot serves every broker in it.
 */
let congested: PacedSession | undefined;

/** Called when `session` queued a message behind its window, with its queue length now. */
export function queued(session: PacedSession, mark: number): void {
  if (mark <= 0 || session.queue.length <= mark || session.pacing?.stalled === true) return;
  congested = session;
}

/** Forgets the mark before a batch; returns the session marked since (or undefined). */
export function takeCongested(): PacedSession | undefined {
  const session = congested;
  congested = undefined;
  return session;
}

/**
 * After the queue of `session` shrank (its window was refilled) or its client went away:
 * wakes the publishers waiting for it once it is down to the low mark (half of `mark`).
 */
export function drained(session: PacedSession, mark: number): void {
  const pacing = session.pacing;
  if (pacing === null || (session.link !== null && session.queue.length > mark / 2)) return;
  pacing.stalled = false;
  const waiters = pacing.waiters.splice(0);
  for (const wake of waiters) wake();
}

/**
 * Resolves once `session`'s queue is down to the low mark, its client is gone, or after
 * {@link PACING_WAIT_MS} (the session is then marked stalled).
 */
export function waitForDrain(session: PacedSession, clock: Clock): Promise<void> {
  const pacing = session.pacing ??= new PacingState();
  return new Promise((resolve) => {
    const timer = clock.setTimer(() => {
      const i = pacing.waiters.indexOf(wake);
      if (i < 0) return;
      pacing.waiters.splice(i, 1);
      pacing.stalled = true;
      resolve();
    }, PACING_WAIT_MS);
    const wake = () => {
      clock.clearTimer(timer);
      resolve();
    };
    pacing.waiters.push(wake);
  });
}
