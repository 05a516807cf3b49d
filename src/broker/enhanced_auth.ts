/**
 * MQTT 5 enhanced authentication: an exchange of AUTH packets driven by a
 * pluggable authenticator per Authentication Method (e.g. SCRAM-SHA-256).
 *
 * @module
 */
import type { AuthResult, ConnectInfo } from "./security.ts";

/**
 * One step of an authentication exchange.
 *
 * @example
 * ```ts
 * import type { AuthConversation } from "../mod.ts";
 * const accepted: AuthConversation = { done: true, ok: true, username: "alice" };
 * console.log(accepted.done);
 * ```
 */
export type AuthConversation =
  | {
    done: false;
    /** Authentication Data for the AUTH (0x18 Continue authentication) packet. */
    data: Uint8Array;
    /** Continues with the client's next Authentication Data. */
    next(data: Uint8Array | undefined): Promise<AuthConversation>;
  }
  | ({ done: true; data?: Uint8Array } & AuthResult);

/**
 * A method of enhanced authentication.
 *
 * @example
 * ```ts
 * import { Broker, type EnhancedAuthenticator } from "../mod.ts";
 * // A one-step method: the Authentication Data of CONNECT must be the shared token.
 * const token: EnhancedAuthenticator = {
 *   method: "TOKEN",
 *   start: (_info, data) =>
 *     Promise.resolve(new TextDecoder().decode(data) === "s3cret"
 *       ? { done: true, ok: true }
 *       : { done: true, ok: false, reason: "not_authorized" }),
 * };
 * const broker = new Broker({ enhancedAuth: [token] });
 * await broker.close();
 * ```
 */
export interface EnhancedAuthenticator {
  /** The Authentication Method name clients send, e.g. "SCRAM-SHA-256". */
  readonly method: string;
  /** Starts an exchange with the Authentication Data of CONNECT (or of AUTH 0x19 for re-authentication). */
  start(info: ConnectInfo, data: Uint8Array | undefined): Promise<AuthConversation>;
}
