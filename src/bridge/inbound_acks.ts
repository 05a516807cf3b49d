/**
 * The acknowledgements a client owes for the PUBLISH packets it receives,
 * sent in the order the packets arrived even when the application takes them
 * out of order, and the inbound QoS 2 state that makes a resent message be
 * recognised rather than delivered twice.
 *
 * @module
 */
import { type AckPacket, PacketType } from "../protocol/packet.ts";

export class InboundAcks {
  readonly #send: (ack: AckPacket) => void;
  /** Resolves once every acknowledgement queued so far has been sent (or skipped). */
  #tail: Promise<void> = Promise.resolve();
  /** QoS 2 ids with PUBREC sent and PUBREL not yet received. */
  readonly #received2 = new Set<number>();

  constructor(send: (ack: AckPacket) => void) {
    this.#send = send;
  }

  /** Whether a QoS 2 PUBLISH with this id was already taken (a resend). */
  taken(packetId: number): boolean {
    return this.#received2.has(packetId);
  }

  /**
   * Queues the PUBACK (QoS 1) or PUBREC (QoS 2) for a message, sent once `handled`
   * resolves and every earlier acknowledgement has gone [MQTT-4.6.0-2]. A rejected
   * `handled` leaves the message unacknowledged, for the server to send again.
   */
  after(handled: Promise<void>, qos: 1 | 2, packetId: number): void {
    const type = qos === 1 ? PacketType.PUBACK : PacketType.PUBREC;
    this.#tail = this.#tail.then(() =>
      handled.then(() => {
        if (qos === 2) this.#received2.add(packetId);
        this.#send({ type, packetId, reasonCode: 0 });
      }, () => {})
    );
  }

  /** PUBREC again for a resend of a message already taken. */
  repeatPubrec(packetId: number): void {
    this.#queue({ type: PacketType.PUBREC, packetId, reasonCode: 0 });
  }

  /** PUBREL ends the QoS 2 exchange: PUBCOMP, behind the acknowledgements still pending. */
  released(packetId: number): void {
    this.#received2.delete(packetId);
    this.#queue({ type: PacketType.PUBCOMP, packetId, reasonCode: 0 });
  }

  #queue(ack: AckPacket): void {
    this.#tail = this.#tail.then(() => this.#send(ack));
  }
}
