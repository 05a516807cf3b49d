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

/**
 * Decides topic access. Answer synchronously where possible: it is on the hot path.
 *
 * `authorize` is asked when a client publishes ("write", with the topic name) and
 * subscribes ("read", with the filter, a shared subscription's without its
 * `$share/{group}/` prefix). When the authorizer also has `authorizeDelivery`, the
 * broker asks it for every message it is about to hand to a session (live messages,
 * shared-subscription messages, retained messages sent on SUBSCRIBE, messages queued
 * while the client was away, wills): a message it refuses is withheld from that client
 * only. Without `authorizeDelivery`, the answer given at SUBSCRIBE stands for every
 * message the subscription matches.
 */
export interface Authorizer {
  authorize(
    client: { clientId: string; username?: string },
    access: Access,
    topic: string,
  ): boolean | Promise<boolean>;
  /**
   * May the client receive a message published on the topic name `topic`? Synchronous:
   * it runs per message and subscriber. The broker caches the answers per session and
   * topic until {@link Broker.accessChanged} (the server calls it on SIGHUP).
   */
  authorizeDelivery?(client: { clientId: string; username?: string }, topic: string): boolean;
}

/** A connected client as a reload sees it when deciding whether it may stay. */
export interface ConnectedClient {
  clientId: string;
  /** The user name it authenticated as (from CONNECT, or its certificate). */
  username?: string;
  /** The listener it connected on. */
  listener: string;
  remoteAddress: string;
  /** Subject of its verified client certificate, if any. */
  certificateIdentity?: string;
}
