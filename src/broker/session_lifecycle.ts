/**
 * What happens to a session between connections: will publication (now or
 * after the Will Delay Interval), expiry, discarding, and the same decisions
 * again after a restart.
 *
 * @module
 */
import type { StoredMessage } from "../persistence/store.ts";
import { isSystemTopic } from "../protocol/topic.ts";
import type { CommitBatch, CommitChain } from "./commit_batch.ts";
import type { BrokerContext } from "./context.ts";
import { stampExpiry } from "./delivery.ts";
import { NEVER_EXPIRES, type Session, treeFilter } from "./session.ts";

/** The broker operations the lifecycle needs beyond the context. */
export interface LifecycleHost extends BrokerContext {
  publishInternal(message: StoredMessage): Promise<void>;
}

export class SessionLifecycle {
  readonly #broker: LifecycleHost;
  readonly #chain: CommitChain;

  constructor(broker: LifecycleHost, chain: CommitChain) {
    this.#broker = broker;
    this.#chain = chain;
  }

  /** The session lost its connection. `publishWill` is false after a normal DISCONNECT. */
  detached(session: Session, publishWill: boolean): void {
    const broker = this.#broker;
    session.disconnectedAt = broker.clock.now();
    const batch = this.#chain.begin();
    if (session.will !== undefined) {
      if (!publishWill) {
        // [MQTT-3.1.2-10] [MQTT-3.14.4-3] a normal DISCONNECT discards the will.
        session.will = undefined;
      } else if (session.will.delay === 0 || !session.persistent) {
        // [MQTT-3.1.2-8] published when the connection closes abnormally; a delayed will
        // is published when the session ends if that comes first [MQTT-3.1.3-9].
        this.publishWill(session);
      } else {
        this.#scheduleWill(session, session.will.delay * 1000);
      }
    }
    if (!session.persistent) {
      this.discard(session, batch);
    } else {
      this.#persistSession(session, batch);
      this.#scheduleExpiry(session, session.expiryInterval * 1000);
    }
    this.#chain.submit(batch);
  }

  /** Publishes the session's will (if still pending) as a broker-originated message. */
  publishWill(session: Session): void {
    const broker = this.#broker;
    const will = session.will;
    if (will === undefined) return;
    session.will = undefined;
    if (session.willTimer !== undefined) broker.clock.clearTimer(session.willTimer);
    session.willTimer = undefined;
    if (session.persistent && broker.sessions.get(session.clientId) === session) {
      const batch = this.#chain.begin();
      this.#persistSession(session, batch);
      this.#chain.submit(batch);
    }
    const client = {
      clientId: session.clientId,
      username: session.username,
      protocolLevel: session.protocolLevel,
    };
    const send = (allowed: boolean) => {
      if (!allowed || isSystemTopic(will.message.topic)) return;
      const message = { ...will.message };
      stampExpiry(message, broker.clock);
      broker.publishInternal(message).catch((err) =>
        broker.log.error("Will of {clientId} failed: {error}", {
          clientId: session.clientId,
          error: String(err),
        })
      );
    };
    const allowed = broker.authorize(client, "write", will.message.topic);
    if (typeof allowed === "boolean") send(allowed);
    else allowed.then(send, () => send(false));
  }

  /** Removes a session, its subscriptions and its stored state. */
  discard(session: Session, batch: CommitBatch): void {
    this.forget(session);
    // A clean session is stored too in cluster mode when it carries a will (see storedForWill).
    if (this.#broker.store !== undefined && (session.persistent || session.storedForWill)) {
      batch.persist({ kind: "deleteSession", clientId: session.clientId });
    }
  }

  /** Removes a session from memory only: its stored state is left as it is. */
  forget(session: Session): void {
    this.release(session);
    session.clearSubscriptions();
  }

  /**
   * Forgets a session that another cluster node takes over: out of the tree and the
   * session map, timers stopped, its stored state left for the new owner. Unlike
   * {@link forget} the session object keeps its subscriptions, as the store may still
   * be writing them.
   */
  release(session: Session): void {
    const broker = this.#broker;
    if (session.subscriptionCount > 0) {
      for (const sub of session.subscriptions.values()) {
        broker.tree.unsubscribe(treeFilter(sub), session.clientId, sub.group);
      }
    }
    session.clearTimers(broker.clock);
    if (broker.sessions.get(session.clientId) === session) broker.sessions.delete(session.clientId);
  }

  /** After a restart every stored session is offline: resume its will and expiry clocks. */
  resumeAfterRestart(session: Session): void {
    const now = this.#broker.clock.now();
    // A session that was connected when the broker stopped lost its connection then.
    const since = session.disconnectedAt ?? now;
    session.disconnectedAt = since;
    if (session.will !== undefined) {
      const due = since + session.will.delay * 1000 - now;
      if (due <= 0) this.publishWill(session);
      else this.#scheduleWill(session, due);
    }
    if (session.expiryInterval !== NEVER_EXPIRES) {
      const left = since + session.expiryInterval * 1000 - now;
      if (left <= 0) this.#expire(session);
      else this.#scheduleExpiry(session, left);
    }
  }

  /** Clears every session timer (broker shutdown). */
  stopTimers(): void {
    const clock = this.#broker.clock;
    for (const session of this.#broker.sessions.values()) session.clearTimers(clock);
  }

  #scheduleWill(session: Session, ms: number): void {
    const clock = this.#broker.clock;
    if (session.willTimer !== undefined) clock.clearTimer(session.willTimer);
    session.willTimer = clock.setTimer(() => {
      session.willTimer = undefined;
      if (session.link === null) this.publishWill(session);
    }, ms);
  }

  #scheduleExpiry(session: Session, ms: number): void {
    if (session.expiryInterval === NEVER_EXPIRES) return;
    const clock = this.#broker.clock;
    if (session.expiryTimer !== undefined) clock.clearTimer(session.expiryTimer);
    session.expiryTimer = clock.setTimer(() => {
      session.expiryTimer = undefined;
      if (session.link === null) this.#expire(session);
    }, ms);
  }

  /** The session's time is up [MQTT-4.1.0-2]: its pending will goes out first [MQTT-3.1.3-9]. */
  #expire(session: Session): void {
    const broker = this.#broker;
    if (session.will !== undefined) this.publishWill(session);
    const batch = this.#chain.begin();
    this.discard(session, batch);
    this.#chain.submit(batch);
    broker.hooks.notify("onSessionExpired", (h) => h.onSessionExpired!(session.clientId));
    broker.log.debug("Session {clientId} expired", { clientId: session.clientId });
  }

  #persistSession(session: Session, batch: CommitBatch): void {
    if (this.#broker.store === undefined) return;
    batch.persist({ kind: "putSession", session: session.record() });
  }
}
