/**
 * CONNECT, as a list of named steps over one {@link ConnectAttempt}: the protocol
 * level and client identifier, the checks made before authentication, the
 * authentication (an enhanced exchange pauses the list until the client's next
 * AUTH), the client's limits, a session held elsewhere, the session itself, and
 * the CONNACK with what the broker supports. A step that refuses ends the list.
 *
 * @module
 */
import type { ConnectPacket } from "../../protocol/packet.ts";
import type { ClientContext } from "../client_context.ts";
import type { CommitBatch } from "../commit_batch.ts";
import { announce, sendConnack } from "./connack.ts";
import { ConnectAttempt, type StepOutcome, STOP } from "./connect_attempt.ts";
import { authenticate, exchange, judgeAuthentication } from "./connect_auth.ts";
import {
  checkAuthenticationMethod,
  checkWill,
  readProtocol,
  refuseWhileClosing,
  settleClientId,
} from "./connect_checks.ts";
import { applyClientLimits, attachSession, claimHeldElsewhere } from "./connect_session.ts";

/** One step: goes on (returns nothing), or ends the attempt ({@link STOP}); may wait. */
type Step = (ctx: ClientContext, attempt: ConnectAttempt) => StepOutcome | Promise<StepOutcome>;

const STEPS: readonly Step[] = [
  readProtocol,
  refuseWhileClosing,
  checkAuthenticationMethod,
  settleClientId,
  checkWill,
  authenticate,
  judgeAuthentication,
  applyClientLimits,
  claimHeldElsewhere,
  attachSession,
  sendConnack,
  announce,
];

export function handleConnect(
  ctx: ClientContext,
  packet: ConnectPacket,
  batch: CommitBatch,
): Promise<void> | void {
  return run(ctx, new ConnectAttempt(packet, batch));
}

/**
 * The client's next AUTH of the exchange its CONNECT started: continues it with the
 * client's Authentication Data, then the remaining steps once the authenticator decided.
 */
export async function resumeConnect(
  ctx: ClientContext,
  attempt: ConnectAttempt,
  data: Uint8Array | undefined,
  batch: CommitBatch,
): Promise<void> {
  const step = await attempt.conversation!.next(data);
  attempt.batch = batch;
  if (exchange(ctx, attempt, step) === STOP) return;
  return run(ctx, attempt);
}

/** Runs the steps from the attempt's next one; synchronous until a step has to wait. */
function run(ctx: ClientContext, attempt: ConnectAttempt): Promise<void> | void {
  while (attempt.next < STEPS.length) {
    // A step that waited may find the connection closed meanwhile: nothing more to do.
    if (ctx.phase === "closed") return;
    const outcome = STEPS[attempt.next++](ctx, attempt);
    if (outcome === STOP) return;
    if (outcome instanceof Promise) {
      return outcome.then((after) => after === STOP ? undefined : run(ctx, attempt));
    }
  }
}
