/**
 * Plain counters the engine bumps on its hot paths (a property increment, no
 * allocation). $SYS topics and the metrics endpoint read them.
 *
 * @module
 */

/** Why a message was not delivered to a client. Bounded set: used as a metrics label. */
export type DropReason =
  | "queue_full"
  | "slow_consumer"
  | "expired"
  | "packet_too_large"
  | "offline_qos0"
  | "not_authorized";

/** Broker-wide counters since start. */
export class BrokerStats {
  readonly startedAt: number;
  connectionsTotal = 0;
  clientsConnected = 0;
  /** Highest number of clients connected at once. */
  clientsMaximum = 0;
  messagesReceived = 0;
  messagesSent = 0;
  publishReceived = 0;
  publishSent = 0;
  bytesReceived = 0;
  bytesSent = 0;
  connectRefused = 0;
  protocolErrors = 0;
  readonly dropped: Record<DropReason, number> = {
    queue_full: 0,
    slow_consumer: 0,
    expired: 0,
    packet_too_large: 0,
    offline_qos0: 0,
    not_authorized: 0,
  };

  constructor(now: number) {
    this.startedAt = now;
  }

  /** Total messages dropped, all reasons. */
  get droppedTotal(): number {
    let sum = 0;
    for (const n of Object.values(this.dropped)) sum += n;
    return sum;
  }
}
