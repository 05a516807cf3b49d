/**
 * The authentication and authorisation interfaces the engine calls. The file
 * based implementations live in src/auth/; embedders may supply their own.
 *
 * @module
 */

/** What a client presented in CONNECT. */
export interface ConnectInfo {
  clientId: string;
  username?: string;
  password?: Uint8Array;
  remoteAddress: string;
  listener: string;
  /** Subject of a verified client certificate, when the listener requested one. */
  certificateIdentity?: string;
  protocolLevel: 3 | 4 | 5;
}

/** The verdict on a CONNECT. */
export type AuthResult =
  | { ok: true; username?: string }
  | { ok: false; reason: "bad_credentials" | "not_authorized" | "banned" };

/** Decides whether a client may connect. May be async (an HTTP call, a database). */
export interface Authenticator {
  authenticate(info: ConnectInfo): Promise<AuthResult>;
}

/** "read" = subscribe and receive; "write" = publish. */
export type Access = "read" | "write";

/** Decides topic access. Answer synchronously where possible: it is on the hot path. */
export interface Authorizer {
  authorize(
    client: { clientId: string; username?: string },
    access: Access,
    topic: string,
  ): boolean | Promise<boolean>;
}
