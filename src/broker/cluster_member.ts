/**
 * The engine's side of being a cluster node: routing what the cluster carries here, and
 * handing sessions over — letting one go to another node, taking one in from the
 * cluster's store and catching it up on what it missed. The transport (NATS) lives in
 * src/cluster/ and calls these.
 *
 * @module
 */
import type { LoadedSession, StoredMessage } from "../persistence/store.ts";
import type { QoS } from "../protocol/packet.ts";
import type { CommitChain } from "./commit_batch.ts";
import type { Connection } from "./connection.ts";
import type { BrokerContext } from "./context.ts";
import { admitEntry } from "./delivery.ts";
import { restoreSession, routeToSession } from "./recovery.ts";
import type { SessionLifecycle } from "./session_lifecycle.ts";

/** A message a session missed while it changed node, as the router would have queued it for that session. */
export interface MissedMessage {
  message: StoredMessage;
  /** Already the lower of the message's QoS and the granted one. */
  qos: QoS;
  subscriptionIds?: number[];
}

export class ClusterMember {
  readonly #broker: BrokerContext;
  readonly #chain: CommitChain;
  readonly #lifecycle: SessionLifecycle;

  constructor(broker: BrokerContext, chain: CommitChain, lifecycle: SessionLifecycle) {
    this.#broker = broker;
    this.#chain = chain;
    this.#lifecycle = lifecycle;
  }

  /**
   * Routes a QoS 0 message another node accepted to this node's non-shared subscriptions,
   * or any message to one member of a share group when `group` says which one NATS picked us for.
   */
  routeRemote(message: StoredMessage, group?: { group: string; filter: string }): Promise<void> {
    const broker = this.#broker;
    broker.stats.messagesReceived++;
    const batch = this.#chain.begin();
    if (group === undefined) broker.router.route(message, batch);
    else broker.router.routeGroup(message, batch, group.group, group.filter);
    return this.#chain.submit(batch);
  }

  /**
   * Routes a QoS 1/2 message from the cluster's stream to this node's non-shared subscriptions.
   * `own` messages were accepted here (and counted then). Resolves once what it queued is stored.
   */
  routeStream(message: StoredMessage, own: boolean): Promise<void> {
    const broker = this.#broker;
    if (!own) broker.stats.messagesReceived++;
    const batch = this.#chain.begin();
    broker.router.routeHere(message, batch);
    return this.#chain.submit(batch);
  }

  /**
   * Lets another node take a session over: closes its connection here (v5: DISCONNECT
   * 0x8E, as for a takeover on one node), waits until its state is stored, and forgets
   * it without deleting the stored copy. False when this node does not hold it.
   */
  async releaseSession(clientId: string): Promise<boolean> {
    const sessions = this.#broker.sessions;
    const session = sessions.get(clientId);
    if (session === undefined) return false;
    const link = session.link;
    if (link !== null) {
      link.takeOver();
      // A network connection finishes its pending commits; an in-process subscription has none.
      const chain = (link as Partial<Connection>).chain;
      if (chain !== undefined) await chain.submit(chain.begin());
    }
    await this.#chain.submit(this.#chain.begin());
    const current = sessions.get(clientId);
    if (current !== undefined && current.link === null) this.#lifecycle.release(current);
    return true;
  }

  /**
   * Holds a session loaded from the cluster's store, as if restored at start. With `routed`
   * false nothing is routed to it until {@link startRouting}: the cluster first queues what it missed.
   */
  adoptSession(loaded: LoadedSession, routed = true): void {
    const existing = this.#broker.sessions.get(loaded.session.clientId);
    if (existing !== undefined) this.#lifecycle.release(existing);
    restoreSession(this.#broker, loaded, routed);
  }

  /**
   * Holds the session of a client whose cluster node died: offline, with its will and
   * expiry clocks running from when it lost its connection, as after a restart.
   */
  adoptOrphan(loaded: LoadedSession, routed = true): void {
    this.adoptSession(loaded, routed);
    const session = this.#broker.sessions.get(loaded.session.clientId);
    if (session === undefined) return;
    // A non-persistent session is stored only for its will: publishing it ends the session here.
    session.storedForWill = !session.persistent;
    this.#lifecycle.resumeAfterRestart(session);
  }

  /**
   * Queues messages an adopted session missed, in order, as live ones are: against the same
   * limits and drop counters (limits.max_queued_messages), and the same read checks.
   * Resolves once they are stored.
   */
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

  /** Drops a session (one adopted with `routed` false whose catch-up failed): memory only, the store keeps it. */
  forgetAdopted(clientId: string): void {
    const session = this.#broker.sessions.get(clientId);
    if (session === undefined) return;
    // Unlinked first, so that the closing connection neither stores nor schedules the session.
    const link = session.link;
    session.link = null;
    link?.takeOver();
    this.#lifecycle.release(session);
  }

  /**
   * Lets every session go at once, in memory only (their connections are closed as taken over):
   * the cluster declared this node dead and other nodes adopted them. Returns how many there were.
   */
  releaseAll(): number {
    const ids = [...this.#broker.sessions.keys()];
    for (const id of ids) this.forgetAdopted(id);
    return ids.length;
  }

  /** Starts routing to a session adopted with `routed` false. */
  startRouting(clientId: string): void {
    const session = this.#broker.sessions.get(clientId);
    if (session !== undefined) routeToSession(this.#broker, session);
  }

  /** Resolves once everything routed and queued so far is stored. */
  flush(): Promise<void> {
    return this.#chain.submit(this.#chain.begin());
  }
}
