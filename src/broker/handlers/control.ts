/**
 * PINGREQ and DISCONNECT.
 *
 * @module
 */
import { type DisconnectPacket, PacketType, Reason } from "../../protocol/packet.ts";
import { protocolError } from "../../protocol/errors.ts";
import type { CommitBatch } from "../commit_batch.ts";
import type { Connection } from "../connection.ts";

/** [MQTT-3.12.4-1] PINGREQ is answered with PINGRESP. */
export function handlePing(conn: Connection): void {
  conn.send({ type: PacketType.PINGRESP });
}

/**
 * A client DISCONNECT: the will is discarded [MQTT-3.14.4-3] unless v5 reason 0x04
 * asks for it; v5 may update the Session Expiry Interval, but not from 0 [MQTT-3.14.2-2].
 */
export function handleDisconnect(conn: Connection, packet: DisconnectPacket, batch: CommitBatch): void {
  const session = conn.session!;
  const expiry = packet.properties?.sessionExpiryInterval;
  if (expiry !== undefined) {
    if (session.expiryInterval === 0 && expiry !== 0) {
      throw protocolError(Reason.ProtocolError, "session expiry cannot be set from 0 at DISCONNECT");
    }
    const wasPersistent = session.persistent;
    session.expiryInterval = expiry;
    if (wasPersistent && !session.persistent) {
      batch.persist({ kind: "deleteSession", clientId: session.clientId });
    } else if (session.persistent) {
      batch.persist({ kind: "putSession", session: session.record() });
    }
  }
  conn.normalDisconnect = true;
  conn.willOnDisconnect = packet.reasonCode === Reason.DisconnectWithWillMessage;
  conn.close(0, "client disconnected");
}
