/**
 * PINGREQ and DISCONNECT.
 *
 * @module
 */
import { type DisconnectPacket, PacketType, Reason } from "../../protocol/packet.ts";
import { protocolError } from "../../protocol/errors.ts";
import type { CommitBatch } from "../commit_batch.ts";
import type { ClientContext } from "../client_context.ts";

/** [MQTT-3.12.4-1] PINGREQ is answered with PINGRESP. */
export function handlePing(ctx: ClientContext): void {
  ctx.send({ type: PacketType.PINGRESP });
}

/**
 * A client DISCONNECT: the will is discarded [MQTT-3.14.4-3] unless v5 reason 0x04
 * asks for it; v5 may update the Session Expiry Interval, but not from 0 [MQTT-3.14.2-2].
 */
export function handleDisconnect(ctx: ClientContext, packet: DisconnectPacket, batch: CommitBatch): void {
  const session = ctx.state.session!;
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
  ctx.state.normalDisconnect = true;
  ctx.state.willOnDisconnect = packet.reasonCode === Reason.DisconnectWithWillMessage;
  ctx.close(0, "client disconnected");
}
