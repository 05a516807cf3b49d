/**
 * The engine's side of being a cluster node: routing what other nodes accepted, and
 * handing sessions over — letting one go to another node, taking one in from the
 * cluster's store. The transport (NATS) lives in src/cluster/ and calls these.
 *
 * @module
 */
import type { LoadedSession, StoredMessage } from "../persistence/store.ts";
import type { CommitChain } from "./commit_batch.ts";
import type { Connection } from "./connection.ts";
import type { BrokerContext } from "./context.ts";
import { restoreSession } from "./recovery.ts";
import type { SessionLifecycle } from "./session_lifecycle.ts";

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
   * Routes a message another node accepted: to this node's non-shared subscriptions,
   * or to one member of a share group when `group` says which one NATS picked us for.
   */
  routeRemote(message: StoredMessage, group?: { group: string; filter: string }): Promise<void> {
    const broker = this.#broker;
    broker.stats.messagesReceived++;
    const batch = this.#chain.begin();
    if (group === undefined) broker.router.route(message, batch, false);
    else broker.router.routeGroup(message, batch, group.group, group.filter);
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

  /** Holds a session loaded from the cluster's store, as if restored at start. */
  adoptSession(loaded: LoadedSession): void {
    const existing = this.#broker.sessions.get(loaded.session.clientId);
    if (existing !== undefined) this.#lifecycle.release(existing);
    restoreSession(this.#broker, loaded);
  }

  /**
   * Holds the session of a client whose cluster node died: offline, with its will and
   * expiry clocks running from when it lost its connection, as after a restart.
   */
  adoptOrphan(loaded: LoadedSession): void {
    this.adoptSession(loaded);
    const session = this.#broker.sessions.get(loaded.session.clientId);
    if (session === undefined) return;
    // A non-persistent session is stored only for its will: publishing it ends the session here.
    session.storedForWill = !session.persistent;
    this.#lifecycle.resumeAfterRestart(session);
  }
}
