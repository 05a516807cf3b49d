/**
 * The authentication and authorisation interfaces the engine calls. The file
 * based implementations live in src/auth/; embedders may supply their own.
 *
 * @module
 */

/**
 * What a client presented in CONNECT, for an {@link Authenticator}.
 *
 * @example
 * ```ts
 * import type { ConnectInfo } from "../mod.ts";
 * const fromLan = (info: ConnectInfo) => info.remoteAddress.startsWith("192.168.");
 * console.log(fromLan({ clientId: "c", remoteAddress: "192.168.1.9:50000", listener: "tcp", protocolLevel: 4 }));
 * ```
 */
export interface ConnectInfo {
  /** The client identifier (an assigned one when the client sent none). */
  clientId: string;
  /** The user name sent, or a verified client certificate's name when none was sent. */
  username?: string;
  /** The password sent. */
  password?: Uint8Array;
  /** Where the client connects from (`host:port`). */
  remoteAddress: string;
  /** The name of the listener it connected on. */
  listener: string;
  /** Subject of a verified client certificate, when the listener requested one. */
  certificateIdentity?: string;
  /** 3 (MQTT 3.1), 4 (3.1.1) or 5. */
  protocolLevel: 3 | 4 | 5;
}

/**
 * The verdict on a CONNECT: accepted (as `username`, when the authenticator names the
 * user), or refused for a reason that picks the CONNACK code.
 *
 * @example
 * ```ts
 * import type { AuthResult } from "../mod.ts";
 * const refused: AuthResult = { ok: false, reason: "bad_credentials" };
 * console.log(refused.ok);
 * ```
 */
export type AuthResult =
  | { ok: true; username?: string }
  | { ok: false; reason: "bad_credentials" | "not_authorized" | "banned" };

/**
 * Decides whether a client may connect. May be async (an HTTP call, a database).
 *
 * @example
 * ```ts
 * import { Broker, type Authenticator } from "../mod.ts";
 * const authenticator: Authenticator = {
 *   authenticate: (info) => Promise.resolve(info.username === "device" ? { ok: true } : { ok: false, reason: "not_authorized" }),
 * };
 * const broker = new Broker({ authenticator });
 * await broker.close();
 * ```
 */
export interface Authenticator {
  /** The verdict on one CONNECT. */
  authenticate(info: ConnectInfo): Promise<AuthResult>;
}

/**
 * "read" = subscribe and receive; "write" = publish.
 *
 * @example
 * ```ts
 * import type { Access } from "../mod.ts";
 * const access: Access = "write";
 * console.log(access);
 * ```
 */
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
 *
 * @example
 * ```ts
 * import { Broker, type Authorizer } from "../mod.ts";
 * const ownTopics: Authorizer = {
 *   authorize: (client, _access, topic) => topic.startsWith(`devices/${client.clientId}/`),
 * };
 * const broker = new Broker({ authorizer: ownTopics });
 * await broker.close();
 * ```
 */
export interface Authorizer {
  /** May `client` publish to ("write") or subscribe to ("read") `topic`? */
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

/**
 * A connected client as a reload sees it when deciding whether it may stay
 * ({@link AdminView.revokeClients}).
 *
 * @example
 * ```ts
 * import { Broker, type ConnectedClient } from "../mod.ts";
 * const broker = new Broker();
 * const closed = broker.admin.revokeClients((client: ConnectedClient) => client.username === "mallory");
 * console.log(closed);
 * await broker.close();
 * ```
 */
export interface ConnectedClient {
  /** The client identifier. */
  clientId: string;
  /** The user name it authenticated as (from CONNECT, or its certificate). */
  username?: string;
  /** The listener it connected on. */
  listener: string;
  /** Where it is connected from (`host:port`). */
  remoteAddress: string;
  /** Subject of its verified client certificate, if any. */
  certificateIdentity?: string;
}
