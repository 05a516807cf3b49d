/**
 * Moving a session between nodes. Each session has an owner record (the node
 * instance that holds it) in the sessions bucket. On CONNECT, the node the client
 * reached asks the owner, on `mqtt.cluster.takeover.<instance>`, to close the client's
 * connection and let go of the session [MQTT-3.1.4-3]; the session then comes from the
 * shared store, and what the old node had not stored yet is replayed from the stream.
 * An owner that does not answer is gone: its last heartbeat says where to replay from.
 *
 * @module
 */
import type { JetStreamClient, KV, NatsConnection } from "nats";
import type { Broker } from "../broker/broker.ts";
import type { LoadedSession } from "../persistence/store.ts";
import type { JetStreamStore } from "./jetstream_store.ts";
import type { NatsRouter } from "./nats_router.ts";
import { decodeRecord, encodeRecord } from "./record_codec.ts";
import { queueMissed, readMissed, type ReplayPoint } from "./replay.ts";
import { escapeLevel, unescapeLevel } from "./subject_mapping.ts";

/** Who holds a session, and since when. */
export interface OwnerRecord {
  node: string;
  instance: string;
  at: number;
}

/** What a node records about itself: everything it had routed by `at` is stored. */
export interface Heartbeat {
  at: number;
  seen: Record<string, number>;
}

/** Slack for delivery delays between NATS servers when replaying from a point in time. */
const REPLAY_MARGIN_MS = 5_000;
const TAKEOVER_TIMEOUT_MS = 5_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const ownerKey = (clientId: string) => `o.${escapeLevel(clientId)}`;
export const takeoverSubject = (instance: string) => `mqtt.cluster.takeover.${escapeLevel(instance)}`;

export interface HandoverOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  broker: Broker;
  router: NatsRouter;
  store: JetStreamStore;
  sessions: KV;
  nodes: KV;
  stream: string;
  node: string;
}

export class SessionHandover {
  readonly #o: HandoverOptions;

  constructor(options: HandoverOptions) {
    this.#o = options;
  }

  /** Answers takeover requests addressed to this instance (an empty request is a liveness ping). */
  listen(): void {
    const { nc, broker, router } = this.#o;
    nc.subscribe(takeoverSubject(router.instance), {
      callback: async (err, msg) => {
        if (err) return;
        if (msg.data.length === 0) return void msg.respond(encoder.encode("{}"));
        const clientId = decoder.decode(msg.data);
        // Taken before letting go: whatever arrives later is replayed by the new owner.
        const point: ReplayPoint = { since: Date.now(), seen: router.seenSnapshot() };
        try {
          const held = await broker.member.releaseSession(clientId);
          await router.lastRouted;
          msg.respond(encoder.encode(JSON.stringify({ held, ...point })));
        } catch (err) {
          // No answer: the asking node treats this one as gone and replays from its heartbeat.
          broker.log.error("Takeover of {clientId} failed: {error}", { clientId, error: String(err) });
        }
      },
    });
  }

  /** ClusterLink.claim: see the module comment. */
  async claim(clientId: string, clean: boolean): Promise<LoadedSession | undefined> {
    const { broker, store } = this.#o;
    const local = broker.sessions.has(clientId);
    const { previous, point } = await this.#becomeOwner(clientId);
    if (local) return undefined;
    if (clean) {
      // [MQTT-3.1.2-4] Clean Start: whatever another node stored for this client goes. A client
      // id never seen, or last held here (and ended here), has nothing stored: no listing, no deletes.
      if (previous) await store.commit([{ kind: "deleteSession", clientId }]);
      return undefined;
    }
    return await this.#load(clientId, point);
  }

  /**
   * Records this instance as the session's owner, after taking it from the previous one.
   * Compare-and-set on the owner record: when two nodes race (a client reconnecting while
   * another node adopts its orphaned session), the loser asks the winner in turn.
   */
  async #becomeOwner(clientId: string): Promise<{ previous: boolean; point?: ReplayPoint }> {
    const { router, sessions } = this.#o;
    const mine = () => encodeRecord({ node: this.#o.node, instance: router.instance, at: Date.now() });
    for (let attempt = 0;; attempt++) {
      const entry = await sessions.get(ownerKey(clientId));
      const owner = entry?.operation === "PUT" ? decodeRecord<OwnerRecord>(entry.value) : undefined;
      if (owner?.instance === router.instance) return { previous: false };
      const point = owner === undefined ? undefined : await this.#takeOver(owner, clientId);
      try {
        if (entry === null) await sessions.create(ownerKey(clientId), mine());
        else await sessions.update(ownerKey(clientId), mine(), entry.revision);
        return { previous: owner !== undefined, point };
      } catch (err) {
        if (attempt >= 3) throw err;
      }
    }
  }

  /** The stored session with what its previous node had not stored replayed into it. */
  async #load(clientId: string, point: ReplayPoint | undefined): Promise<LoadedSession | undefined> {
    const store = this.#o.store;
    const loaded = await store.loadSession(clientId);
    if (loaded === undefined || point === undefined) return loaded;
    const added = queueMissed(loaded, await readMissed(this.#o.js, this.#o.stream, point), Date.now());
    // Stored before the client is told its session is present, so that a second failure cannot lose them.
    await store.commit(added.map((entry) => ({ kind: "putOutbound", clientId, entry })));
    return loaded;
  }

  /** Whether an instance answers on its takeover subject. */
  async alive(instance: string): Promise<boolean> {
    try {
      await this.#o.nc.request(takeoverSubject(instance), new Uint8Array(0), { timeout: 1000 });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Gives a home to the stored sessions of an instance that died: each becomes an offline
   * session here, so its will is published once [MQTT-3.1.2-8] and its expiry runs, and its
   * messages keep being queued until its client returns. Returns how many were adopted.
   */
  async adoptOrphans(instance: string): Promise<number> {
    const { broker, router, sessions } = this.#o;
    let adopted = 0;
    const keys: string[] = [];
    for await (const key of await sessions.keys("o.*")) keys.push(key);
    for (const key of keys) {
      const entry = await sessions.get(key);
      if (entry?.operation !== "PUT" || decodeRecord<OwnerRecord>(entry.value).instance !== instance) {
        continue;
      }
      const clientId = unescapeLevel(key.slice(2));
      const record = encodeRecord({ node: this.#o.node, instance: router.instance, at: Date.now() });
      // Fails when the client came back somewhere in the meantime: that node has it.
      const won = await sessions.update(key, record, entry.revision).then(() => true, () => false);
      if (!won || broker.sessions.has(clientId)) continue;
      const loaded = await this.#load(clientId, await this.#orphanPoint(decodeRecord(entry.value)));
      if (loaded === undefined) continue;
      broker.member.adoptOrphan(loaded);
      adopted++;
    }
    return adopted;
  }

  /** Where to replay from for a session whose owner died: its last heartbeat, else when it claimed. */
  async #orphanPoint(owner: OwnerRecord): Promise<ReplayPoint> {
    const beat = await this.#o.nodes.get(escapeLevel(owner.instance));
    if (beat?.operation === "PUT") {
      const h = decodeRecord<Heartbeat>(beat.value);
      return { since: h.at - REPLAY_MARGIN_MS, seen: h.seen };
    }
    return { since: owner.at - REPLAY_MARGIN_MS, seen: {} };
  }

  /** Asks the owner to let go; returns where to replay from, or undefined when nothing can be missing. */
  async #takeOver(owner: OwnerRecord, clientId: string): Promise<ReplayPoint | undefined> {
    const { nc } = this.#o;
    try {
      const reply = await nc.request(takeoverSubject(owner.instance), encoder.encode(clientId), {
        timeout: TAKEOVER_TIMEOUT_MS,
      });
      const answer = JSON.parse(decoder.decode(reply.data)) as { held: boolean } & ReplayPoint;
      // An owner that no longer holds the session ended it there (or handed it on): nothing to replay.
      if (!answer.held) return undefined;
      return { since: answer.since - REPLAY_MARGIN_MS, seen: answer.seen };
    } catch {
      // No responders or no answer: that instance is gone.
    }
    return await this.#orphanPoint(owner);
  }
}
