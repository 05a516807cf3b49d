/**
 * Moving a session between nodes. Each session has an owner record (the node
 * instance that holds it) in the sessions bucket. On CONNECT, the node the client
 * reached asks the owner, on `mqtt.cluster.takeover.<instance>`, to close the client's
 * connection and let go of the session [MQTT-3.1.4-3]; the session then comes from the
 * shared store, and what the old node had not stored yet is replayed from the stream.
 * An owner that does not answer is gone: its last heartbeat says where to replay from.
 *
 * A session belongs to a user (src/broker/session_owner.ts). The takeover request
 * names the connecting identity in a header; the holder refuses to let go of a
 * session of another user, and a session whose holder is gone is judged by its
 * stored record, so that another user neither gets it nor closes its connection.
 * (A node of an older version ignores the header and lets go, as it always did.)
 *
 * @module
 */
import { headers, type JetStreamClient, type KV, type MsgHdrs, type NatsConnection } from "nats";
import type { Broker } from "../broker/broker.ts";
import type { ClusterClaim } from "../broker/cluster_link.ts";
import { identityOf, judgeOwner } from "../broker/session_owner.ts";
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
/** Header of a takeover request: the identity that connects, as JSON (a user name or null), URI-encoded. */
const IDENTITY_HEADER = "Mqtt-Identity";

function identityHeader(identity: string | null): MsgHdrs {
  const h = headers();
  h.set(IDENTITY_HEADER, encodeURIComponent(JSON.stringify(identity)));
  return h;
}

/** The identity a takeover request names; undefined when it names none (a node of an older version). */
function requestIdentity(h: MsgHdrs | undefined): string | null | undefined {
  const raw = h?.get(IDENTITY_HEADER);
  if (!raw) return undefined;
  try {
    const value = JSON.parse(decodeURIComponent(raw));
    return typeof value === "string" ? value : null;
  } catch {
    return undefined; // unreadable: answered as a node of an older version would be
  }
}

/** What asking a session's owner to let go came to. */
type TakeoverAnswer =
  | { kind: "refused" }
  /** `held`: the owner had the session (and `point` says where to replay from). */
  | { kind: "released"; held: boolean; point?: ReplayPoint }
  /** No answer: the owner is gone; replay from its last heartbeat. */
  | { kind: "gone"; point: ReplayPoint };

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
        if (this.#keepsForOwner(clientId, msg.headers)) {
          return void msg.respond(encoder.encode(JSON.stringify({ refused: true })));
        }
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

  /** Whether this node holds `clientId`'s session for another user than the request names. */
  #keepsForOwner(clientId: string, h: MsgHdrs | undefined): boolean {
    const broker = this.#o.broker;
    const identity = requestIdentity(h);
    const session = broker.sessions.get(clientId);
    if (identity === undefined || session === undefined) return false;
    return judgeOwner(session.owner, identity, session.link !== null, broker.foreignSession) === "refuse";
  }

  /** ClusterLink.claim: see the module comment. */
  async claim(clientId: string, clean: boolean, client: { username?: string }): Promise<ClusterClaim> {
    const { broker, store } = this.#o;
    const identity = identityOf(client.username);
    const local = broker.sessions.has(clientId);
    const taken = await this.#becomeOwner(clientId, identity);
    if (taken === "refused") return { refused: true };
    if (local) return { refused: false };
    if (clean) {
      // [MQTT-3.1.2-4] Clean Start: whatever another node stored for this client goes. A client
      // id never seen, or last held here (and ended here), has nothing stored: no listing, no deletes.
      if (taken.previous) await store.commit([{ kind: "deleteSession", clientId }]);
      return { refused: false };
    }
    const loaded = await this.#load(clientId, taken.point);
    if (loaded === undefined) return { refused: false };
    // Its client is not connected anywhere now: the holder let go, or is gone.
    const verdict = judgeOwner(loaded.session.username, identity, false, broker.foreignSession);
    if (verdict === "discard") {
      await store.commit([{ kind: "deleteSession", clientId }]);
      return { refused: false };
    }
    if (verdict === "refuse") {
      // Only when its owner changed since the check in #becomeOwner: this node now owns the
      // record, so it keeps the session, offline, queueing for its user.
      broker.member.adoptOrphan(loaded);
      return { refused: true };
    }
    return { refused: false, loaded };
  }

  /**
   * Records this instance as the session's owner, after taking it from the previous one.
   * Compare-and-set on the owner record: when two nodes race (a client reconnecting while
   * another node adopts its orphaned session), the loser asks the winner in turn.
   * "refused" (and nothing written) when the session stays with a user other than `identity`.
   */
  async #becomeOwner(
    clientId: string,
    identity: string | null,
  ): Promise<{ previous: boolean; point?: ReplayPoint } | "refused"> {
    const { router, sessions } = this.#o;
    const mine = () => encodeRecord({ node: this.#o.node, instance: router.instance, at: Date.now() });
    for (let attempt = 0;; attempt++) {
      const entry = await sessions.get(ownerKey(clientId));
      const owner = entry?.operation === "PUT" ? decodeRecord<OwnerRecord>(entry.value) : undefined;
      if (owner?.instance === router.instance) return { previous: false };
      const answer = owner === undefined ? undefined : await this.#takeOver(owner, clientId, identity);
      if (answer?.kind === "refused") return "refused";
      // Nobody alive vouched for the session: its stored record says whose it is.
      const vouched = answer?.kind === "released" && answer.held;
      if (!vouched && await this.#storedForOther(clientId, identity)) return "refused";
      const point = answer?.point;
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

  /** Whether the stored session of `clientId` belongs to another user, who keeps it (session_owner.ts). */
  async #storedForOther(clientId: string, identity: string | null): Promise<boolean> {
    const record = await this.#o.store.sessionRecord(clientId);
    if (record === undefined) return false;
    return judgeOwner(record.username, identity, false, this.#o.broker.foreignSession) === "refuse";
  }

  /** Asks the owner to let go: refused, released (with where to replay from, if anything can be missing), or gone. */
  async #takeOver(owner: OwnerRecord, clientId: string, identity: string | null): Promise<TakeoverAnswer> {
    const { nc } = this.#o;
    try {
      const reply = await nc.request(takeoverSubject(owner.instance), encoder.encode(clientId), {
        timeout: TAKEOVER_TIMEOUT_MS,
        headers: identityHeader(identity),
      });
      const answer = JSON.parse(decoder.decode(reply.data)) as
        & { held?: boolean; refused?: boolean }
        & ReplayPoint;
      if (answer.refused === true) return { kind: "refused" };
      // An owner that no longer holds the session ended it there (or handed it on): nothing to replay.
      if (!answer.held) return { kind: "released", held: false };
      const point = { since: answer.since - REPLAY_MARGIN_MS, seen: answer.seen };
      return { kind: "released", held: true, point };
    } catch {
      // No responders or no answer: that instance is gone.
    }
    return { kind: "gone", point: await this.#orphanPoint(owner) };
  }
}
