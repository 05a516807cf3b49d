/**
 * One CONNECT on its way to a CONNACK: what its steps (connect.ts) have found so
 * far. An enhanced authentication exchange keeps it in the client's state until the
 * client's next AUTH resumes it.
 *
 * @module
 */
import type { ConnectPacket, Properties } from "../../protocol/packet.ts";
import type { CommitBatch } from "../commit_batch.ts";
import type { AuthConversation } from "../enhanced_auth.ts";
import type { AuthResult } from "../security.ts";
import type { Session } from "../session.ts";

/** What a step returns to end the attempt: refused, closed, or waiting for the client's AUTH. */
export const STOP = "stop";

/** A step's outcome: nothing to go on with the next step, or {@link STOP}. */
export type StepOutcome = void | typeof STOP;

const UNDECIDED: AuthResult = { ok: false, reason: "not_authorized" };

export class ConnectAttempt {
  readonly packet: ConnectPacket;
  /** The CONNECT's properties (empty for 3.x). */
  readonly props: Properties;
  /** Where the steps record store work: the CONNECT's batch, or the AUTH's that resumed it. */
  batch: CommitBatch;
  /** The index of the next step to run. */
  next = 0;
  /** The server assigned the client identifier: the CONNACK tells the client. */
  assigned = false;
  /** The exchange waiting for the client's next AUTH (enhanced authentication). */
  conversation: (AuthConversation & { done: false }) | null = null;
  /** The authenticator's verdict (refusing until one is given). */
  verdict: AuthResult = UNDECIDED;
  /** Authentication Data of the exchange's last step, for the CONNACK. */
  authenticationData: Uint8Array | undefined = undefined;
  /** The session attached, and whether it was resumed (Session Present). */
  session: Session | null = null;
  present = false;

  constructor(packet: ConnectPacket, batch: CommitBatch) {
    this.packet = packet;
    this.props = packet.properties ?? {};
    this.batch = batch;
  }

  get v5(): boolean {
    return this.packet.protocolLevel === 5;
  }

  /** The Authentication Method of CONNECT (enhanced authentication), if any. */
  get method(): string | undefined {
    return this.props.authenticationMethod;
  }
}
