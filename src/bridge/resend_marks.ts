/**
 * Whether a message a bridge carries is a retransmission on the other side, which
 * its DUP flag must say [MQTT-3.3.1-1], decided by this hop alone and not copied from
 * the incoming flag [MQTT-3.3.1-3].
 *
 * The bridge does not resend by itself: when a connection drops, the source (this
 * broker for `out`, the remote's session for `in`) resends the unacknowledged
 * message on the next connection, with DUP and the same packet id [MQTT-4.4.0-1].
 * So the bridge remembers, per source packet id, whether it already sent the message
 * on to the other side; the mark goes when the flow completes. A resend of a message
 * first delivered before this process started has no mark: then it may have been
 * sent on, and the source's DUP is taken as the answer (DUP=1 is the safe side: a
 * receiver must not treat it as more than "maybe seen").
 *
 * @module
 */

export class ResendMarks {
  /** Source packet id → whether the message was sent on to the other side. */
  readonly #marks = new Map<number, boolean>();

  /** A QoS 1/2 message arrived from the source; returns whether sending it on is a retransmission. */
  arrived(packetId: number, sourceDup: boolean): boolean {
    const sent = this.#marks.get(packetId);
    if (!sourceDup || sent === undefined) {
      // A first delivery (a reused id starts a new message), or a resend with no history here.
      this.#marks.set(packetId, false);
      return sourceDup;
    }
    return sent;
  }

  /** The message with this source id has been written to the other side. */
  sent(packetId: number): void {
    if (this.#marks.has(packetId)) this.#marks.set(packetId, true);
  }

  /** Its flow with the source completed (acknowledged): the id may now name another message. */
  done(packetId: number): void {
    this.#marks.delete(packetId);
  }

  /** Messages with a mark (for tests: the map stays bounded by the source's window). */
  get size(): number {
    return this.#marks.size;
  }
}
