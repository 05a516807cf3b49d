/**
 * Per-minute rates smoothed over 1, 5 and 15 minutes, the way Mosquitto's
 * `$SYS/broker/load/...` topics report them: an exponentially weighted moving
 * average of the rate seen between two updates.
 *
 * @module
 */
import type { BrokerCounters } from "../broker/stats.ts";

const WINDOWS = [["1min", 60], ["5min", 300], ["15min", 900]] as const;

/** The counters the load topics follow, by their $SYS name. */
const COUNTERS: [string, (s: BrokerCounters) => number][] = [
  ["messages/received", (s) => s.messagesReceived],
  ["messages/sent", (s) => s.messagesSent],
  ["publish/received", (s) => s.publishReceived],
  ["publish/sent", (s) => s.publishSent],
  ["bytes/received", (s) => s.bytesReceived],
  ["bytes/sent", (s) => s.bytesSent],
  ["connections", (s) => s.connectionsTotal],
];

export class LoadAverages {
  readonly #last = new Map<string, number>();
  readonly #averages = new Map<string, number>();

  /** Folds in the counters' growth over the last `seconds`. */
  update(stats: BrokerCounters, seconds: number): void {
    for (const [name, read] of COUNTERS) {
      const value = read(stats);
      const previous = this.#last.get(name);
      this.#last.set(name, value);
      if (previous === undefined || seconds <= 0) continue;
      const perMinute = ((value - previous) / seconds) * 60;
      for (const [label, window] of WINDOWS) {
        const key = `${name}/${label}`;
        const weight = Math.exp(-seconds / window);
        const old = this.#averages.get(key) ?? perMinute;
        this.#averages.set(key, old * weight + perMinute * (1 - weight));
      }
    }
  }

  /** "messages/received/1min" → messages per minute, for every counter and window seen so far. */
  entries(): IterableIterator<[string, number]> {
    return this.#averages.entries();
  }
}
