/**
 * `$SYS` topics: the broker's own figures, published as retained messages at a
 * configurable interval, with Mosquitto's names where Mosquitto has one so that
 * existing dashboards and scripts keep working. Who may read them is decided by
 * the ACL like any other subscription.
 *
 * @module
 */
import type { AdminView } from "../broker/admin_view.ts";
import type { Clock, TimerHandle } from "../broker/clock.ts";
import type { StoredMessage } from "../persistence/store.ts";
import { LoadAverages } from "./load_averages.ts";

const encoder = new TextEncoder();

/** What $SYS reads and how it publishes. */
export interface SysSource {
  /** The broker's figures. */
  admin: AdminView;
  /** The broker's clock: the interval runs on it. */
  clock: Clock;
  /** Publishes as the broker, without counting the message in the figures it reports. */
  publish(message: StoredMessage): Promise<void>;
}

/** Publishes the `$SYS/broker/...` tree every `intervalSeconds`. */
export class SysTopics {
  readonly #source: SysSource;
  readonly #intervalMs: number;
  readonly #load = new LoadAverages();
  #timer: TimerHandle | undefined;
  #lastAt: number;

  constructor(source: SysSource, intervalSeconds: number) {
    this.#source = source;
    this.#intervalMs = intervalSeconds * 1000;
    this.#lastAt = source.clock.now();
  }

  /** Publishes once now, then on every interval. An interval of 0 disables the topics. */
  start(): void {
    if (this.#intervalMs <= 0) return;
    this.publishNow();
    this.#schedule();
  }

  stop(): void {
    if (this.#timer !== undefined) this.#source.clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    this.#timer = this.#source.clock.setTimer(() => {
      this.publishNow();
      this.#schedule();
    }, this.#intervalMs);
  }

  /** The current values, topic → text, as published. */
  values(): Map<string, string> {
    const { admin, clock } = this.#source;
    const s = admin.counters;
    const now = clock.now();
    this.#load.update(s, (now - this.#lastAt) / 1000);
    this.#lastAt = now;
    const { inflight, queued, queuedBytes } = admin.pendingMessages();
    const sizes = admin.sizes();
    const v = new Map<string, string>([
      ["version", `deno-mqtt-broker ${admin.version}`],
      ["uptime", `${Math.floor((now - s.startedAt) / 1000)} seconds`],
      ["clients/connected", `${s.clientsConnected}`],
      ["clients/active", `${s.clientsConnected}`],
      ["clients/disconnected", `${sizes.sessions - s.clientsConnected}`],
      ["clients/total", `${sizes.sessions}`],
      ["clients/maximum", `${s.clientsMaximum}`],
      ["messages/received", `${s.messagesReceived}`],
      ["messages/sent", `${s.messagesSent}`],
      ["messages/dropped", `${s.droppedTotal}`],
      ["messages/inflight", `${inflight}`],
      ["messages/queued", `${queued}`],
      ["publish/messages/received", `${s.publishReceived}`],
      ["publish/messages/sent", `${s.publishSent}`],
      ["publish/messages/dropped", `${s.droppedTotal}`],
      ["bytes/received", `${s.bytesReceived}`],
      ["bytes/sent", `${s.bytesSent}`],
      ["subscriptions/count", `${sizes.subscriptions}`],
      ["retained messages/count", `${sizes.retained}`],
      ["store/messages/count", `${inflight + queued}`],
      ["store/messages/bytes", `${queuedBytes}`],
    ]);
    for (const [name, value] of this.#load.entries()) v.set(`load/${name}`, value.toFixed(2));
    return v;
  }

  /** Publishes every value as a retained QoS 0 message. */
  publishNow(): void {
    for (const [name, value] of this.values()) {
      this.#source.publish(
        { topic: `$SYS/broker/${name}`, payload: encoder.encode(value), qos: 0, retain: true },
      ).catch(() => {/* reported by the commit chain */});
    }
  }
}
