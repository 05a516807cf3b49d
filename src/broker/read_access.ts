/**
 * Delivery-time read checks: may this session receive a message on this topic?
 * Asked for every message and subscriber when the authorizer has
 * `authorizeDelivery`, so each answer is cached on the session, keyed by the topic
 * string the message already carries (no allocation on a hit). The cache is bounded
 * per session and dropped when the rules change ({@link ReadAccess.invalidate}) or
 * the session's user changes.
 *
 * @module
 */
import type { Authorizer } from "./security.ts";
import type { Session } from "./session.ts";

/** Topics remembered per session; past it the session's cache starts over. */
export const SESSION_CACHE_LIMIT = 256;

type DeliveryCheck = NonNullable<Authorizer["authorizeDelivery"]>;

export class ReadAccess {
  readonly #authorizer: Authorizer | undefined;
  #check: DeliveryCheck | undefined;
  #generation = 1;

  constructor(authorizer: Authorizer | undefined) {
    this.#authorizer = authorizer;
    this.#check = authorizer?.authorizeDelivery;
  }

  /** Whether messages are checked at all (false: every check answers true). */
  get active(): boolean {
    return this.#check !== undefined;
  }

  /**
   * The rules changed: forgets every cached answer and asks the authorizer again
   * whether it checks deliveries (a reload may have added or removed an ACL file).
   */
  invalidate(): void {
    this.#generation++;
    this.#check = this.#authorizer?.authorizeDelivery;
  }

  /**
   * The answer for `session` and the topic name `topic`: undefined while the session's
   * user is unknown (restored from the store, its client not back yet), in which case the
   * caller keeps the message and the check is made again before it is sent.
   */
  allows(session: Session, topic: string): boolean | undefined {
    const check = this.#check;
    if (check === undefined || session.trusted) return true;
    // Fast path: the topic of the session's last answer, under the same rules and user. Fan-out hands
    // one message to many sessions, each of which saw the same topic last time: comparing the text
    // beats hashing each message's new topic string for the map.
    if (
      session.lastReadTopic === topic && session.readCacheGeneration === this.#generation &&
      session.readCacheUser === session.username
    ) {
      return session.lastReadVerdict;
    }
    return this.#lookup(check, session, topic);
  }

  #lookup(check: DeliveryCheck, session: Session, topic: string): boolean | undefined {
    if (!session.identityKnown) {
      if (session.link === null) return undefined;
      // Attached to a connection: its user name is the session's now.
      session.identityKnown = true;
    }
    let cache = session.readCache;
    if (
      cache === null || session.readCacheGeneration !== this.#generation ||
      session.readCacheUser !== session.username
    ) {
      cache = session.readCache = new Map();
      session.readCacheGeneration = this.#generation;
      session.readCacheUser = session.username;
    }
    let verdict = cache.get(topic);
    if (verdict === undefined) {
      try {
        const client = { clientId: session.clientId, username: session.username };
        verdict = check.call(this.#authorizer, client, topic) === true;
      } catch {
        // An authorizer that fails withholds the message rather than leak it.
        verdict = false;
      }
      if (cache.size >= SESSION_CACHE_LIMIT) cache.clear();
      cache.set(topic, verdict);
    }
    session.lastReadTopic = topic;
    session.lastReadVerdict = verdict;
    return verdict;
  }
}
