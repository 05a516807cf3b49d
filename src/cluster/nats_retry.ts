/**
 * Retrying JetStream operations through the faults a NATS cluster goes through: a server
 * that dies takes its clients' connections with it (they reconnect to another server) and
 * may have led a stream, whose replicas then elect a new leader; until they have, requests
 * time out or find no responder. Only idempotent operations are retried here (a KV put or
 * delete, a read, a publish that carries a message id the stream de-duplicates by).
 *
 * @module
 */

/**
 * How long an operation keeps being retried. JetStream's own leader election, which this
 * waits out, took 2–11 s when a server was killed (docs/cluster.md); past this the error stands.
 */
export const RETRY_DEADLINE_MS = 30_000;
const RETRY_PAUSE_MS = 250;

/** Error codes of nats.js that a later attempt may not meet (no leader yet, connection moving). */
const TRANSIENT_CODES = new Set([
  "TIMEOUT",
  "503",
  "408",
  "DISCONNECT",
  "REQUEST_ERROR",
  "CONNECTION_REFUSED",
]);

/** Whether `err` is a NATS failure that goes away once the cluster has recovered. */
export function isTransient(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; api_error?: { code?: number } } | null;
  if (e === null || typeof e !== "object") return false;
  if (typeof e.code === "string" && TRANSIENT_CODES.has(e.code)) return true;
  const api = e.api_error?.code;
  if (api === 503 || api === 500 || api === 408) return true;
  return typeof e.message === "string" &&
    /timeout|timed out|no responders|temporarily unavailable|no leader|not current|disconnect/i.test(
      e.message,
    );
}

export interface RetryOptions {
  /** Give up once this much time has passed (ms). */
  deadlineMs?: number;
  /** Stops retrying at once (the connection was closed). */
  abandoned?: () => boolean;
  /** Called before each retry with the error that caused it. */
  onRetry?: (err: unknown, attempt: number) => void;
}

/** Runs `op` until it succeeds, a non-transient error occurs, or the deadline passes. */
export async function retryTransient<T>(op: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.deadlineMs ?? RETRY_DEADLINE_MS);
  for (let attempt = 1;; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!isTransient(err) || Date.now() >= deadline || options.abandoned?.()) throw err;
      options.onRetry?.(err, attempt);
      await new Promise((r) => setTimeout(r, Math.min(RETRY_PAUSE_MS * attempt, 1000)));
    }
  }
}
