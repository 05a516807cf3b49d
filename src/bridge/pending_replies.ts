/**
 * Replies a client waits for, by packet id (CONNACK under id 0): each wait has
 * a deadline, and all of them fail together when the connection ends.
 *
 * @module
 */
import type { Packet } from "../protocol/packet.ts";

type Waiter = { resolve(p: Packet): void; reject(err: Error): void };

export class PendingReplies {
  readonly #waiters = new Map<number, Waiter>();
  readonly #timeoutMs: number;
  readonly #onTimeout: () => void;

  /** `onTimeout` runs when a reply is late (a server that stops answering is given up). */
  constructor(timeoutMs: number, onTimeout: () => void) {
    this.#timeoutMs = timeoutMs;
    this.#onTimeout = onTimeout;
  }

  has(id: number): boolean {
    return this.#waiters.has(id);
  }

  /** Resolves with the reply carrying `id`; rejects after the deadline or when the connection ends. */
  wait(id: number): Promise<Packet> {
    return new Promise<Packet>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(id);
        reject(new Error("no reply from the server in time"));
        this.#onTimeout();
      }, this.#timeoutMs);
      this.#waiters.set(id, {
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  }

  /** Hands a reply to its waiter, if any. */
  settle(id: number, packet: Packet): void {
    const waiter = this.#waiters.get(id);
    this.#waiters.delete(id);
    waiter?.resolve(packet);
  }

  /** Fails every wait. */
  failAll(err: Error): void {
    for (const waiter of this.#waiters.values()) waiter.reject(err);
    this.#waiters.clear();
  }
}
