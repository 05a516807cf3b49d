/**
 * MQTT 5 enhanced authentication: an exchange of AUTH packets driven by a
 * pluggable authenticator per Authentication Method (e.g. SCRAM-SHA-256).
 *
 * @module
 */
import type { AuthResult, ConnectInfo } from "./security.ts";

/** One step of an authentication exchange. */
export type AuthConversation =
  | {
    done: false;
    /** Authentication Data for the AUTH (0x18 Continue authentication) packet. */
    data: Uint8Array;
    /** Continues with the client's next Authentication Data. */
    next(data: Uint8Array | undefined): Promise<AuthConversation>;
  }
  | ({ done: true; data?: Uint8Array } & AuthResult);

/** A method of enhanced authentication. */
export interface EnhancedAuthenticator {
  /** The Authentication Method name clients send, e.g. "SCRAM-SHA-256". */
  readonly method: string;
  /** Starts an exchange with the Authentication Data of CONNECT (or of AUTH 0x19 for re-authentication). */
  start(info: ConnectInfo, data: Uint8Array | undefined): Promise<AuthConversation>;
}
