/**
 * The authentication steps of a CONNECT: asking the authenticator (or running an
 * enhanced authentication exchange of AUTH packets), then acting on its verdict.
 *
 * @module
 */
import { ConnackReturnCode, PacketType, Reason } from "../../protocol/packet.ts";
import type { ClientContext } from "../client_context.ts";
import type { AuthConversation } from "../enhanced_auth.ts";
import type { ConnectInfo } from "../security.ts";
import { type ConnectAttempt, type StepOutcome, STOP } from "./connect_attempt.ts";
import { type Refusal, refuse } from "./connect_refusal.ts";

/** Asks the authenticator, or starts the exchange of the CONNECT's Authentication Method. */
export async function authenticate(ctx: ClientContext, attempt: ConnectAttempt): Promise<StepOutcome> {
  const packet = attempt.packet;
  const info: ConnectInfo = {
    clientId: ctx.state.clientId,
    // A verified client certificate stands in for a missing user name.
    username: packet.username ?? ctx.socket.identity,
    password: packet.password,
    remoteAddress: ctx.socket.remoteAddress,
    listener: ctx.socket.listener,
    certificateIdentity: ctx.socket.identity,
    protocolLevel: packet.protocolLevel,
  };
  const method = attempt.method;
  if (method === undefined) {
    attempt.verdict = await ctx.engine.authenticate(info);
    return;
  }
  const conversation = await ctx.engine.enhancedAuth(method)!.start(info, attempt.props.authenticationData);
  return exchange(ctx, attempt, conversation);
}

/**
 * One step of an enhanced authentication exchange: sends the next AUTH 0x18 and waits for the
 * client [MQTT-4.12.0-2], or takes the authenticator's decision and goes on.
 */
export function exchange(ctx: ClientContext, attempt: ConnectAttempt, step: AuthConversation): StepOutcome {
  if (ctx.phase === "closed") return STOP;
  if (!step.done) {
    attempt.conversation = step;
    ctx.state.pendingConnect = attempt;
    ctx.armConnectTimer();
    ctx.send({
      type: PacketType.AUTH,
      reasonCode: Reason.ContinueAuthentication,
      properties: { authenticationMethod: attempt.method, authenticationData: step.data },
    });
    return STOP;
  }
  attempt.conversation = null;
  ctx.state.pendingConnect = null;
  attempt.verdict = step;
  attempt.authenticationData = step.data;
}

const BAD_CREDENTIALS: Refusal = {
  v5: Reason.BadUserNameOrPassword,
  v3: ConnackReturnCode.BadUserNameOrPassword,
  why: "bad user name or password",
};
const BANNED: Refusal = {
  v5: Reason.Banned,
  v3: ConnackReturnCode.NotAuthorized,
  why: "banned (too many failed logins)",
};
const NOT_AUTHORIZED: Refusal = {
  v5: Reason.NotAuthorized,
  v3: ConnackReturnCode.NotAuthorized,
  why: "not authorized",
};

/** Refuses on a failed authentication; else settles the identity the session will belong to. */
export function judgeAuthentication(ctx: ClientContext, attempt: ConnectAttempt): StepOutcome {
  const verdict = attempt.verdict;
  // [MQTT-4.12.0-4] a failed authentication gets a CONNACK of 0x80 or above, then the close.
  if (!verdict.ok) {
    if (verdict.reason === "bad_credentials") return refuse(ctx, BAD_CREDENTIALS);
    return refuse(ctx, verdict.reason === "banned" ? BANNED : NOT_AUTHORIZED);
  }
  const state = ctx.state;
  if (attempt.method !== undefined) state.authMethod = attempt.method;
  // The identity the session will belong to (session_owner.ts).
  state.username = verdict.username ?? attempt.packet.username ?? ctx.socket.identity;
}
