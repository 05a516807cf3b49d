/**
 * The engine's side of the peer seam (peers.ts): routing what peers carry here,
 * following their retained messages, and handing sessions over — letting one go to a
 * peer, taking one in from the shared store and catching it up on what it missed.
 *
 * @module
 */
import type { LoadedSession, StoredMessage } from "../persistence/store.ts";
import type { CommitChain } from "./commit_batch.ts";
import { Connection } from "./connection.ts";
import type { BrokerContext } from "./context.ts";
import { admitEntry } from "./delivery.ts";
import type {
  AdoptOptions,
  HeldSession,
  MissedMessage,
  PeerDelivery,
  PeerPort,
  ReleaseEnding,
} from "./peers.ts";
import { restoreSession, routeToSession } from "./recovery.ts";
import type { SessionLifecycle } from "./session_lifecycle.ts";
import type { ForeignSessionPolicy } from "./session_owner.ts";

export class EnginePeerPort implements PeerPort {
  readonly #broker: BrokerContext;
  readonly #chain: CommitChain;
  readonly #lifecycle: SessionLifecycle;

  constructor(broker: BrokerContext, chain: CommitChain, lifecycle: SessionLifecycle) {
    this.#broker = broker;
    this.#chain = chain;
    this.#lifecycle = lifecycle;
  }

  now(): number {
    return this.#broker.clock.now();
  }

  get foreignSession(): ForeignSessionPolicy {
    return this.#broker.foreignSession;
  }

  held(clientId: string): HeldSession | undefined {
    const session = this.#broker.sessions.get(clientId);
    return session === undefined ? undefined : { owner: session.owner, online: session.link !== null };
  }

  deliver(message: StoredMessage, how: PeerDelivery = {}): Promise<void> {
    const broker = this.#broker;
    if (how.own !== true) broker.stats.messagesReceived++;
    const batch = this.#chain.begin();
    const group = how.group;
    if (group === undefined) broker.router.routeHere(message, batch);
    else broker.router.routeGroup(message, batch, group.group, group.filter);
    return this.#chain.submit(batch);
  }

  retainedChanged(topic: string, message: StoredMessage | undefined): void {
    const broker = this.#broker;
    if (!broker.mqtt.retainAvailable) return;
    if (message === undefined) broker.retained.delete(topic);
    else broker.retained.set(message);
  }

  async release(clientId: string, ending: ReleaseEnding): Promise<boolean> {
    const sessions = this.#broker.sessions;
    const session = sessions.get(clientId);
    if (session === undefined) return false;
    const link = session.link;
    if (ending === "detach") {
      // Unlinked first, so that the closing connection neither stores nor schedules the session.
      session.link = null;
      link?.takeOver();
      this.#lifecycle.release(session);
      // A delayed will is cancelled by the new connection [MQTT-3.1.3-9]; one without delay goes now.
      if (link !== null && session.will?.delay === 0) this.#lifecycle.publishWill(session);
    } else {
      link?.takeOver();
    }
    // A network connection finishes its pending commits; an in-process subscription has none.
    const own = link instanceof Connection ? link.chain.submit(link.chain.begin()) : undefined;
    await Promise.all([own, this.flush()]);
    if (ending === "close") {
      const current = sessions.get(clientId);
      if (current !== undefined && current.link === null) this.#lifecycle.release(current);
    }
    return true;
  }

  adopt(loaded: LoadedSession, options: AdoptOptions = {}): void {
    const broker = this.#broker;
    const existing = broker.sessions.get(loaded.session.clientId);
    if (existing !== undefined) this.#lifecycle.release(existing);
    const session = restoreSession(broker, loaded, options.routed ?? true);
    if (options.orphan !== true) return;
    // A non-persistent session is stored only for its will: publishing it ends the session here.
    session.storedForWill = !session.persistent;
    this.#lifecycle.resumeAfterRestart(session);
  }

  admitMissed(clientId: string, missed: readonly MissedMessage[]): Promise<void> {
    const broker = this.#broker;
    const session = broker.sessions.get(clientId);
    if (session === undefined || missed.length === 0) return Promise.resolve();
    const access = broker.access;
    const batch = this.#chain.begin();
    for (const m of missed) {
      // As in the router: a message the session's user may not read is not handed to it (while
      // the user is not known, the message is kept and checked again before it is sent).
      if (access.active && access.allows(session, m.message.topic) === false) continue;
      admitEntry(broker, session, session.newEntry(m.message, m.qos, m.subscriptionIds), batch);
    }
    return this.#chain.submit(batch);
  }

  startRouting(clientId: string): void {
    const session = this.#broker.sessions.get(clientId);
    if (session !== undefined) routeToSession(this.#broker, session);
  }

  forget(clientId: string): void {
    const session = this.#broker.sessions.get(clientId);
    if (session === undefined) return;
    // Unlinked first, so that the closing connection neither stores nor schedules the session.
    const link = session.link;
    session.link = null;
    link?.takeOver();
    this.#lifecycle.release(session);
  }

  releaseAll(): number {
    const ids = [...this.#broker.sessions.keys()];
    for (const id of ids) this.forget(id);
    return ids.length;
  }

  flush(): Promise<void> {
    return this.#chain.submit(this.#chain.begin());
  }
}
