/**
 * A SnapshotStore that keeps state in memory: nothing survives the process. Useful
 * for tests, embedding, and brokers that need no durability.
 *
 * @module
 */
import type {
  LoadedSession,
  Mutation,
  OutboundEntry,
  SnapshotStore,
  StoredMessage,
  StoredSession,
  StoredSubscription,
  StoreSnapshot,
} from "./store.ts";

interface ClientState {
  session?: StoredSession;
  subscriptions: Map<string, StoredSubscription>;
  outbound: Map<number, OutboundEntry>;
  inbound: Set<number>;
}

/**
 * Broker state in memory, for one broker; a restart starts empty.
 *
 * @example
 * ```ts
 * import { Broker, MemoryStore } from "../mod.ts";
 * const broker = new Broker({ store: new MemoryStore() });
 * await broker.start();
 * await broker.close();
 * ```
 */
export class MemoryStore implements SnapshotStore {
  readonly durable = false;
  readonly #clients = new Map<string, ClientState>();
  readonly #retained = new Map<string, StoredMessage>();

  open(): Promise<void> {
    return Promise.resolve();
  }

  #client(clientId: string): ClientState {
    let c = this.#clients.get(clientId);
    if (c === undefined) {
      c = { subscriptions: new Map(), outbound: new Map(), inbound: new Set() };
      this.#clients.set(clientId, c);
    }
    return c;
  }

  commit(mutations: Mutation[]): Promise<void> {
    for (const m of mutations) {
      switch (m.kind) {
        case "putSession":
          this.#client(m.session.clientId).session = structuredClone(m.session);
          break;
        case "deleteSession":
          this.#clients.delete(m.clientId);
          break;
        case "putSubscription":
          this.#client(m.clientId).subscriptions.set(m.subscription.filter, { ...m.subscription });
          break;
        case "deleteSubscription":
          this.#clients.get(m.clientId)?.subscriptions.delete(m.filter);
          break;
        case "putOutbound":
          this.#client(m.clientId).outbound.set(m.entry.seq, structuredClone(m.entry));
          break;
        case "deleteOutbound":
          this.#clients.get(m.clientId)?.outbound.delete(m.seq);
          break;
        case "putInbound":
          this.#client(m.clientId).inbound.add(m.packetId);
          break;
        case "deleteInbound":
          this.#clients.get(m.clientId)?.inbound.delete(m.packetId);
          break;
        case "putRetained":
          this.#retained.set(m.message.topic, structuredClone(m.message));
          break;
        case "deleteRetained":
          this.#retained.delete(m.topic);
          break;
      }
    }
    return Promise.resolve();
  }

  load(): Promise<StoreSnapshot> {
    const sessions: LoadedSession[] = [];
    for (const c of this.#clients.values()) {
      if (c.session === undefined) continue;
      sessions.push(structuredClone({
        session: c.session,
        subscriptions: [...c.subscriptions.values()],
        outbound: [...c.outbound.values()].sort((a, b) => a.seq - b.seq),
        inbound: [...c.inbound],
      }));
    }
    return Promise.resolve({ sessions, retained: structuredClone([...this.#retained.values()]) });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
