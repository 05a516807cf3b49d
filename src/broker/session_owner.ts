/**
 * Whose session is it. A session belongs to the identity that created it: the user
 * name the client authenticated as (a verified certificate's name when it sent none),
 * or "anonymous". A CONNECT from another identity with the same client id must not
 * get the session, its queued messages or its live ones, and must not close the
 * owner's connection. One pure decision serves every path a session arrives by: in
 * memory, restored from the store, adopted from a serverless isolate, or
 * handed over by another cluster node.
 *
 * Mosquitto 2.0.11 does not check this (it hands the session to any user who
 * presents the client id); docs/security.md records the difference.
 *
 * @module
 */

/**
 * The owner of a session: a user name, `null` for anonymous clients, or `undefined`
 * when unknown (a record stored before owners were recorded: the next user to resume
 * it becomes its owner, so upgrading keeps every existing session usable).
 */
export type SessionOwner = string | null | undefined;

/**
 * What to do with a session of another identity when its client is offline:
 * "refuse" the CONNECT (the default), or "discard" the session and start a fresh
 * one. An online session of another identity is always refused: the owner is never
 * disconnected by someone else.
 *
 * @example
 * ```ts
 * import { Broker, type ForeignSessionPolicy } from "../mod.ts";
 * const foreignSession: ForeignSessionPolicy = "discard";
 * const broker = new Broker({ foreignSession });
 * await broker.close();
 * ```
 */
export type ForeignSessionPolicy = "refuse" | "discard";

/** "resume": the connecting identity may have the session; else refuse it, or discard the session. */
export type OwnerVerdict = "resume" | "refuse" | "discard";

/** The identity of a connection: its user name, or null when anonymous. */
export function identityOf(username: string | undefined): string | null {
  return username ?? null;
}

/**
 * Decides whether `identity` may take over a session owned by `owner`.
 * `online`: whether the session's client is (or may be) connected right now.
 */
export function judgeOwner(
  owner: SessionOwner,
  identity: string | null,
  online: boolean,
  policy: ForeignSessionPolicy,
): OwnerVerdict {
  if (owner === undefined || owner === identity) return "resume";
  if (online || policy === "refuse") return "refuse";
  return "discard";
}
