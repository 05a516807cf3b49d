/**
 * Moving a session between nodes. Each session has an owner record (the node instance
 * that holds it) in the sessions bucket. On CONNECT, the node the client reached asks the
 * owner, on `mqtt.cluster.takeover.<instance>`, to close the client's connection and let go
 * of the session [MQTT-3.1.4-3]. The owner lets go at one exact position of the message
 * stream and answers with it; the new owner loads the session from the shared store and
 * catches it up on the stream after that position (catch_up.ts) before it routes to it.
 * An owner that does not answer is gone: its last heartbeat says up to where its routing
 * is stored.
 *
 * A session belongs to a user (src/broker/session_owner.ts). The takeover request names
 * the connecting identity (takeover_request.ts); the owner refuses to let go of another
 * user's session, before it closes the client's connection or releases anything, and a
 * session that no live owner judged (its owner is gone, or no longer held it) is judged
 * by its stored record — all before the new node records itself as owner. (A node of an
 * older version ignores the header and lets go, as it always did.)
 *
 * @module
 */
import type { JetStreamClient, KV, NatsConnection } from "nats";
import type { Logger } from "@logtape/logtape";
import type { PeerClaim, PeerPort } from "../broker/peers.ts";
import { identityOf, judgeOwner } from "../broker/session_owner.ts";
import { type CatchUp, catchUp } from "./catch_up.ts";
import type { Heartbeat } from "./heartbeat.ts";
import type { JetStreamStore } from "./jetstream_store.ts";
import { retryTransient } from "./nats_retry.ts";
import { decodeRecord, encodeRecord } from "./record_codec.ts";
import type { StreamFeed } from "./stream_feed.ts";
import { escapeLevel, unescapeLevel } from "./subject_mapping.ts";
import { answersPing, answerTakeovers, askToLetGo, type TakeoverReply } from "./takeover_request.ts";

/** Who holds a session, and since when. */
export interface OwnerRecord {
  node: string;
  instance: string;
  at: number;
  /** While its owner is catching it up: the stream sequence that replay started after. */
  replayFrom?: number;
}

const TAKEOVER_TIMEOUT_MS = 5_000;

/**
 * What asking a session's owner to let go came to: refused (it stays another user's), or where
 * the new owner's replay starts (undefined: nothing can be missing). `judged`: a live owner held
 * the session and answered for whose it is (one of an older version lets go without judging; the
 * record loaded afterwards is judged then).
 */
type TakeoverAnswer = "refused" | { judged: boolean; from: number | undefined };

export const ownerKey = (clientId: string) => `o.${escapeLevel(clientId)}`;

export interface HandoverOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  port: PeerPort;
  log: Logger;
  feed: StreamFeed;
  store: JetStreamStore;
  sessions: KV;
  nodes: KV;
  stream: string;
  node: string;
  instance: string;
  /** Every owner record's key, as the sessions bucket's leader holds them. */
  ownerKeys(): Promise<string[]>;
}

/** A session being adopted here: its owner record's revision, and where its replay starts. */
interface Adoption extends CatchUp {
  revision: number;
}

export class SessionHandover {
  readonly #o: HandoverOptions;
  /** Sessions being caught up here, by client id: a takeover waits until they are. */
  readonly #catching = new Map<string, Promise<void>>();
  /** Sessions whose catch-up failed (NATS unavailable too long): where their replay must start. */
  readonly #unfinished = new Map<string, number>();

  constructor(options: HandoverOptions) {
    this.#o = options;
  }

  /** Answers takeover requests addressed to this instance. */
  listen(): void {
    const { nc, log, instance } = this.#o;
    answerTakeovers(nc, {
      instance,
      letGo: (clientId, identity) => this.#release(clientId, identity),
      // No answer: the asking node treats this one as gone and replays from its heartbeat.
      onError: (clientId, err) =>
        log.error("Takeover of {clientId} failed: {error}", { clientId, error: String(err) }),
    });
  }

  /**
   * Lets a session go at one position of the stream: everything routed to it up to `cursor`
   * is stored, nothing after it was routed to it here. Refused, with nothing closed or let
   * go, when it belongs to another user than `identity` (undefined: a node of an older version).
   */
  async #release(
    clientId: string,
    identity: string | null | undefined,
  ): Promise<TakeoverReply> {
    await this.#catching.get(clientId)?.catch(() => {});
    if (identity !== undefined && await this.#keepsForOwner(clientId, identity)) return { refused: true };
    const unfinished = this.#unfinished.get(clientId);
    if (unfinished !== undefined) {
      // Never caught up here: the next owner replays from where this node should have.
      this.#unfinished.delete(clientId);
      return { held: true, cursor: unfinished };
    }
    const feed = this.#o.feed;
    const resume = feed.hold();
    try {
      // The next owner reads the session once this resolves: its last state is stored first.
      const held = await this.#o.port.release(clientId, "close");
      return { held, cursor: feed.position };
    } finally {
      resume();
    }
  }

  /** Whether this node keeps `clientId`'s session for another user than `identity` (session_owner.ts). */
  async #keepsForOwner(clientId: string, identity: string | null): Promise<boolean> {
    const port = this.#o.port;
    const session = port.held(clientId);
    if (session !== undefined) {
      return judgeOwner(session.owner, identity, session.online, port.foreignSession) === "refuse";
    }
    // Not in memory because its catch-up here failed: its stored record says whose it is.
    return this.#unfinished.has(clientId) && await this.#storedForOther(clientId, identity);
  }

  /** Whether the stored session of `clientId` belongs to another user, who keeps it (its client is offline). */
  async #storedForOther(clientId: string, identity: string | null): Promise<boolean> {
    const record = await this.#o.store.sessionRecord(clientId);
    if (record === undefined) return false;
    return judgeOwner(record.username, identity, false, this.#o.port.foreignSession) === "refuse";
  }

  /**
   * PeerLink.claim: see the module comment. The session is adopted here (through the
   * PeerPort), caught up; refused when it belongs to another user.
   */
  async claim(clientId: string, clean: boolean, client: { username?: string }): Promise<PeerClaim> {
    const { port, store } = this.#o;
    const identity = identityOf(client.username);
    const local = port.held(clientId) !== undefined;
    const taken = await this.#becomeOwner(clientId, identity);
    if (taken === "refused") return { refused: true };
    const { previous, from, revision } = taken;
    // Held here: the engine judges the session in memory when it attaches the CONNECT.
    if (local) return { refused: false };
    if (clean) {
      // [MQTT-3.1.2-4] Clean Start: whatever another node stored for this client goes. A client
      // id never seen, or last held here (and ended here), has nothing stored: no listing, no deletes.
      if (previous) await store.commit([{ kind: "deleteSession", clientId }]);
      return { refused: false };
    }
    const loaded = await store.loadSession(clientId);
    if (loaded === undefined) return { refused: false };
    // Its client is connected nowhere now: its owner let go, or is gone.
    const verdict = judgeOwner(loaded.session.username, identity, false, port.foreignSession);
    // Deleted rather than caught up for nothing (the engine would discard it on attaching).
    if (verdict === "discard") {
      await store.commit([{ kind: "deleteSession", clientId }]);
      return { refused: false };
    }
    // "refuse" only when no check before caught it (an owner of an older version let go, or the
    // record changed since): this node owns the record now and keeps the session for its user,
    // offline, as if adopted from a node that died.
    const refused = verdict === "refuse";
    await this.#adopt([{ loaded, revision, from }], refused);
    return { refused };
  }

  /**
   * Records this instance as the session's owner, after taking it from the previous one.
   * Compare-and-set on the owner record: when two nodes race (a client reconnecting while
   * another node adopts its orphaned session), the loser asks the winner in turn.
   * "refused", with nothing written, when the session stays with a user other than `identity`.
   */
  async #becomeOwner(
    clientId: string,
    identity: string | null,
  ): Promise<{ previous: boolean; from?: number; revision: number } | "refused"> {
    const { port, sessions } = this.#o;
    // The earliest replay point any owner answered with: an owner that let the session go in an
    // earlier attempt (whose compare-and-set then lost a race) answers "not held" the next time.
    let from: number | undefined;
    for (let attempt = 0;; attempt++) {
      const entry = await retryTransient(() => sessions.get(ownerKey(clientId)));
      const owner = entry?.operation === "PUT" ? decodeRecord<OwnerRecord>(entry.value) : undefined;
      if (owner?.instance === this.#o.instance) {
        // Ours already. Not in memory: a catch-up here failed (it starts again from the same point,
        // and Clean Start deletes what is stored) or the session ended here; its record says whose it is.
        const held = port.held(clientId) !== undefined;
        if (!held && await this.#storedForOther(clientId, identity)) return "refused";
        const again = this.#unfinished.get(clientId) ?? owner.replayFrom;
        this.#unfinished.delete(clientId);
        return { previous: !held && again !== undefined, from: again ?? from, revision: entry!.revision };
      }
      const answer = owner === undefined ? undefined : await this.#takeOver(owner, clientId, identity);
      if (answer === "refused") return "refused";
      // No live owner judged the session: its stored record says whose it is.
      if (answer?.judged !== true && await this.#storedForOther(clientId, identity)) return "refused";
      const point = answer?.from;
      if (point !== undefined) from = Math.min(point, from ?? point);
      const mine = this.#ownerRecord(from);
      try {
        const revision = entry === null
          ? await sessions.create(ownerKey(clientId), mine)
          : await sessions.update(ownerKey(clientId), mine, entry.revision);
        return { previous: owner !== undefined, from, revision };
      } catch (err) {
        if (attempt >= 3) throw err;
      }
    }
  }

  #ownerRecord(replayFrom?: number): Uint8Array {
    const record: OwnerRecord = { node: this.#o.node, instance: this.#o.instance, at: Date.now() };
    if (replayFrom !== undefined) record.replayFrom = replayFrom;
    return encodeRecord(record);
  }

  /**
   * Holds sessions here, caught up: what the stream carried after each one's replay point is
   * queued (in order, against the queue limits) before routing to it starts, at exactly the
   * position where the replay ended. `orphans` are sessions of a node that died: held offline.
   */
  async #adopt(adoptions: Adoption[], orphans: boolean): Promise<void> {
    const done = this.#catchUp(adoptions, orphans);
    const ids = adoptions.map((a) => a.loaded.session.clientId);
    for (const id of ids) this.#catching.set(id, done);
    try {
      await done;
    } catch (err) {
      // Not caught up: not held here either, or messages would go missing silently. The owner
      // record still names this node with the replay point; whoever asks next replays from it.
      for (const a of adoptions) {
        if (a.from === undefined) continue;
        this.#o.port.forget(a.loaded.session.clientId);
        this.#unfinished.set(a.loaded.session.clientId, a.from);
      }
      throw err;
    } finally {
      for (const id of ids) if (this.#catching.get(id) === done) this.#catching.delete(id);
    }
  }

  async #catchUp(adoptions: Adoption[], orphans: boolean): Promise<void> {
    const { port, log, feed, js, stream } = this.#o;
    const replayed = await catchUp(adoptions, { orphans, port, feed, js, stream, log });
    // Caught up: a later failure of this node replays from its own heartbeat only.
    await Promise.all(
      replayed.map((a) =>
        this.#o.sessions.update(ownerKey(a.loaded.session.clientId), this.#ownerRecord(), a.revision)
          .catch(() => {})
      ),
    );
  }

  /** Whether an instance answers on its takeover subject (asked a few times: it may be reconnecting). */
  alive(instance: string): Promise<boolean> {
    return answersPing(this.#o.nc, instance);
  }

  /**
   * Gives a home to the stored sessions of an instance that died: each becomes an offline
   * session here, so its will is published once [MQTT-3.1.2-8] and its expiry runs, and its
   * messages keep being queued until its client returns. Returns how many were adopted.
   */
  async adoptOrphans(instance: string): Promise<number> {
    const { port, sessions, store } = this.#o;
    const point = await this.#heartbeatCursor(instance);
    const keys = await retryTransient(() => this.#o.ownerKeys());
    const adoptions: Adoption[] = [];
    for (const key of keys) {
      const entry = await retryTransient(() => sessions.get(key));
      if (entry?.operation !== "PUT") continue;
      const owner = decodeRecord<OwnerRecord>(entry.value);
      if (owner.instance !== instance) continue;
      const clientId = unescapeLevel(key.slice(2));
      const from = Math.min(point ?? 0, owner.replayFrom ?? Infinity);
      // Fails when the client came back somewhere in the meantime: that node has it.
      const revision = await sessions.update(key, this.#ownerRecord(from), entry.revision).catch(() => 0);
      if (revision === 0 || port.held(clientId) !== undefined) continue;
      const loaded = await store.loadSession(clientId);
      if (loaded !== undefined) adoptions.push({ loaded, revision, from });
    }
    if (adoptions.length > 0) await this.#adopt(adoptions, true);
    return adoptions.length;
  }

  /** Up to where a dead instance's routing is stored, from its last heartbeat. */
  async #heartbeatCursor(instance: string): Promise<number | undefined> {
    const beat = await retryTransient(() => this.#o.nodes.get(escapeLevel(instance)));
    if (beat?.operation !== "PUT") return undefined;
    return decodeRecord<Heartbeat>(beat.value).cursor;
  }

  /** Asks the owner to let go on behalf of `identity`: refused, or where to replay from (see TakeoverAnswer). */
  async #takeOver(owner: OwnerRecord, clientId: string, identity: string | null): Promise<TakeoverAnswer> {
    const target = { instance: owner.instance, clientId };
    const reply = await askToLetGo(this.#o.nc, target, { identity, timeoutMs: TAKEOVER_TIMEOUT_MS });
    if (reply !== undefined) {
      if ("refused" in reply) return "refused";
      // An owner that no longer holds the session ended it there (or handed it on): nothing to replay.
      return reply.held ? { judged: true, from: reply.cursor } : { judged: false, from: undefined };
    }
    // No answer: that instance is gone. Without a heartbeat (it never wrote one, or its record
    // expired) the whole stream window is replayed.
    const cursor = await this.#heartbeatCursor(owner.instance);
    return { judged: false, from: Math.min(cursor ?? 0, owner.replayFrom ?? Infinity) };
  }
}
