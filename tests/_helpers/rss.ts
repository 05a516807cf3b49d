/**
 * Resident memory of a process (a broker started by a test), read from
 * /proc/<pid>/status, once or sampled while something runs.
 */

/** VmRSS of `pid`, in bytes. */
export async function rssBytes(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = status.match(/^VmRSS:\s+(\d+) kB/m)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}

/** Samples the RSS of `pid` every `intervalMs` until stopped; `peak` is the largest seen. */
export class RssSampler {
  readonly #pid: number;
  #peak = 0;
  #running = true;
  readonly #done: Promise<void>;

  constructor(pid: number, intervalMs = 10) {
    this.#pid = pid;
    this.#done = this.#sample(intervalMs);
  }

  async #sample(intervalMs: number): Promise<void> {
    while (this.#running) {
      try {
        this.#peak = Math.max(this.#peak, await rssBytes(this.#pid));
      } catch {
        return; // the process is gone: the test's liveness check says so
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  /** Stops sampling; resolves with the peak RSS in bytes. */
  async stop(): Promise<number> {
    this.#running = false;
    await this.#done;
    return this.#peak;
  }
}

/** Waits until the RSS of `pid` is at most `bytes`; resolves with the last reading (over it on timeout). */
export async function rssFallsTo(pid: number, bytes: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await rssBytes(pid);
    if (now <= bytes || Date.now() > deadline) return now;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const MiB = 1024 * 1024;

/** Bytes as "12.3 MiB" for messages. */
export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
