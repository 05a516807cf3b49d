/**
 * AUTH: the continuation of an enhanced authentication started by CONNECT, and
 * re-authentication of an established connection (MQTT 5).
 *
 * @module
 */
import { protocolError } from "../../protocol/errors.ts";
import { type AuthPacket, PacketType, Reason } from "../../protocol/packet.ts";
import type { CommitBatch } from "../commit_batch.ts";
import type { ClientContext } from "../client_context.ts";
import type { AuthConversation } from "../enhanced_auth.ts";
import { resumeConnect } from "./connect.ts";

export async function handleAuth(ctx: ClientContext, packet: AuthPacket, batch: CommitBatch): Promise<void> {
  const method = packet.properties?.authenticationMethod;
  const pending = ctx.state.pendingConnect;
  if (pending !== null) {
    // During the CONNECT exchange the client may only continue it, with the same method.
    if (packet.reasonCode !== Reason.ContinueAuthentication || method !== pending.method) {
      throw protocolError(Reason.ProtocolError, "AUTH does not continue the authentication in progress");
    }
    return resumeConnect(ctx, pending, packet.properties?.authenticationData, batch);
  }
  if (ctx.state.authMethod === undefined) {
    // [MQTT-4.12.0-7] without an Authentication Method in CONNECT there is no AUTH exchange.
    throw protocolError(Reason.ProtocolError, "AUTH without an authentication method in CONNECT");
  }
  // [MQTT-4.12.1-1] re-authentication uses the method of the original authentication.
  if (method !== ctx.state.authMethod) {
    throw protocolError(Reason.ProtocolError, "re-authentication with another method");
  }
  let step: AuthConversation;
  if (packet.reasonCode === Reason.ReAuthenticate) {
    step = await ctx.engine.enhancedAuth(method)!.start({
      clientId: ctx.state.clientId,
      username: ctx.state.username,
      remoteAddress: ctx.socket.remoteAddress,
      listener: ctx.socket.listener,
      protocolLevel: 5,
    }, packet.properties?.authenticationData);
  } else if (packet.reasonCode === Reason.ContinueAuthentication && ctx.state.reauth !== null) {
    step = await ctx.state.reauth.next(packet.properties?.authenticationData);
  } else {
    throw protocolError(Reason.ProtocolError, "unexpected AUTH reason code");
  }
  if (!step.done) {
    ctx.state.reauth = step;
    ctx.send({
      type: PacketType.AUTH,
      reasonCode: Reason.ContinueAuthentication,
      properties: { authenticationMethod: method, authenticationData: step.data },
    });
    return;
  }
  ctx.state.reauth = null;
  // [MQTT-4.12.1-2] a failed re-authentication ends the connection.
  if (!step.ok) throw protocolError(Reason.NotAuthorized, "re-authentication failed");
  ctx.send({
    type: PacketType.AUTH,
    reasonCode: Reason.Success,
    properties: { authenticationMethod: method, authenticationData: step.data },
  });
}
