/**
 * Once a second: message rates and the busiest topics, kept for the last
 * minute so that the dashboard can draw its charts from one request.
 *
 * @module
 */
import type { AdminView } from "../broker/admin_view.ts";

/** One second of traffic. */
export interface RatePoint {
  /** Unix time in ms. */
  at: number;
  received: number;
  sent: number;
  dropped: number;
}

const HISTORY = 60;
const TOP = 10;

export class LiveStats {
  readonly #admin: AdminView;
  readonly history: RatePoint[] = [];
  topTopics: { topic: string; rate: number }[] = [];
  #last = { received: 0, sent: 0, dropped: 0, at: 0 };
  #timer: number | undefined;

  constructor(admin: AdminView) {
    this.#admin = admin;
  }

  /** Starts sampling (and turns on the broker's per-topic counting). */
  start(): void {
    this.#admin.takeTopicSample();
    this.#remember(Date.now());
    this.#timer = setInterval(() => this.sample(), 1000) as unknown as number;
    Deno.unrefTimer(this.#timer);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#admin.stopTopicSample();
  }

  #remember(at: number): void {
    const s = this.#admin.counters;
    this.#last = { received: s.messagesReceived, sent: s.messagesSent, dropped: s.droppedTotal, at };
  }

  /** Takes one sample now (the timer calls this every second). */
  sample(): void {
    const s = this.#admin.counters;
    const at = Date.now();
    const seconds = Math.max(0.001, (at - this.#last.at) / 1000);
    this.history.push({
      at,
      received: (s.messagesReceived - this.#last.received) / seconds,
      sent: (s.messagesSent - this.#last.sent) / seconds,
      dropped: (s.droppedTotal - this.#last.dropped) / seconds,
    });
    if (this.history.length > HISTORY) this.history.shift();
    this.#remember(at);
    const counts = [...this.#admin.takeTopicSample()].sort((a, b) => b[1] - a[1]).slice(0, TOP);
    this.topTopics = counts.map(([topic, n]) => ({ topic, rate: n / seconds }));
  }
}
