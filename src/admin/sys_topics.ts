/**
 * `$SYS` topics: the broker's own figures, published as retained messages at a
 * configurable interval, with Mosquitto's names where Mosquitto has one so that
 * existing dashboards and scripts keep working. Who may read them is decided by
 * the ACL like any other subscription.
 *
 * @module
 */
import type { Broker } from "../broker/broker.ts";
import type { TimerHandle } from "../broker/clock.ts";
import { LoadAverages } from "./load_averages.ts";

const encoder = new TextEncoder();

/** Publishes the `$SYS/broker/...` tree every `intervalSeconds`. */
export class SysTopics {
  readonly #broker: Broker;
  readonly #intervalMs: number;
  readonly #load = new LoadAverages();
  #timer: TimerHandle | undefined;
  #lastAt: number;

  constructor(broker: Broker, intervalSeconds: number) {
    this.#broker = broker;
    this.#intervalMs = intervalSeconds * 1000;
    this.#lastAt = broker.clock.now();
  }

  /** Publishes once now, then on every interval. An interval of 0 disables the topics. */
  start(): void {
    if (this.#intervalMs <= 0) return;
    this.publishNow();
    this.#schedule();
  }

  stop(): void {
    if (this.#timer !== undefined) this.#broker.clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    this.#timer = this.#broker.clock.setTimer(() => {
      this.publishNow();
      this.#schedule();
    }, this.#intervalMs);
  }

  /** The current values, topic → text, as published. */
  values(): Map<string, string> {
    const b = this.#broker;
    const s = b.stats;
    const now = b.clock.now();
    this.#load.update(s, (now - this.#lastAt) / 1000);
    this.#lastAt = now;
    const { inflight, queued, queuedBytes } = b.pendingMessages();
    const v = new Map<string, string>([
      ["version", `deno-mqtt-broker ${b.version}`],
      ["uptime", `${Math.floor((now - s.startedAt) / 1000)} seconds`],
      ["clients/connected", `${s.clientsConnected}`],
      ["clients/active", `${s.clientsConnected}`],
      ["clients/disconnected", `${b.sessions.size - s.clientsConnected}`],
      ["clients/total", `${b.sessions.size}`],
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
      ["subscriptions/count", `${b.tree.size}`],
      ["retained messages/count", `${b.retained.size}`],
      ["store/messages/count", `${inflight + queued}`],
      ["store/messages/bytes", `${queuedBytes}`],
    ]);
    for (const [name, value] of this.#load.entries()) v.set(`load/${name}`, value.toFixed(2));
    return v;
  }

  /** Publishes every value as a retained QoS 0 message. */
  publishNow(): void {
    for (const [name, value] of this.values()) {
      this.#broker.publishInternal(
        { topic: `$SYS/broker/${name}`, payload: encoder.encode(value), qos: 0, retain: true },
        false,
      ).catch(() => {/* reported by the commit chain */});
    }
  }
}
