/**
 * How a CONNECT is refused: a CONNACK with the reason (v5) or return code (3.x),
 * then the close [MQTT-3.2.2-7].
 *
 * @module
 */
import { ConnackReturnCode, PacketType, type Properties, Reason } from "../../protocol/packet.ts";
import type { ClientContext } from "../client_context.ts";
import { STOP } from "./connect_attempt.ts";

/** The reason and return code of one refusal, and why (logged, and the v5 Reason String). */
export interface Refusal {
  v5: number;
  v3: number;
  why: string;
}

/** Sends the refusing CONNACK and closes; returns {@link STOP} for the step that refused. */
export function refuse(ctx: ClientContext, refusal: Refusal): typeof STOP {
  const state = ctx.state;
  ctx.engine.stats.connectRefused++;
  const reasonCode = state.level === 5 ? refusal.v5 : refusal.v3;
  const properties: Properties | undefined = state.level === 5 ? { reasonString: refusal.why } : undefined;
  ctx.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode, properties });
  ctx.engine.log.info("Refused {clientId} from {remote}: {why}", {
    clientId: state.clientId,
    remote: ctx.socket.remoteAddress,
    why: refusal.why,
  });
  ctx.close(0, refusal.why);
  return STOP;
}

/**
 * The client id names a session of another user (session_owner.ts): refused as an
 * identifier the server does not allow, 0x85 (5.0) [MQTT-3.1.3-8] or return code 2
 * (3.1.1), then closed. Not 0x87: the credentials are fine, it is this id that is not.
 */
export const FOREIGN_SESSION: Refusal = {
  v5: Reason.ClientIdentifierNotValid,
  v3: ConnackReturnCode.IdentifierRejected,
  why: "client id in use by another user",
};
