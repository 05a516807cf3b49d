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
import { escapeLevel } from "./subject_mapping.ts";

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

  /** Answers takeover requests addressed to this instance. */
  listen(): void {
    const { nc, broker, router } = this.#o;
    nc.subscribe(takeoverSubject(router.instance), {
      callback: async (err, msg) => {
        if (err) return;
        const clientId = decoder.decode(msg.data);
        // Taken before letting go: whatever arrives later is replayed by the new owner.
        const point: ReplayPoint = { since: Date.now(), seen: router.seenSnapshot() };
        const held = await broker.releaseSession(clientId);
        await router.lastRouted;
        msg.respond(encoder.encode(JSON.stringify({ held, ...point })));
      },
    });
  }

  /** ClusterLink.claim: see the module comment. */
  async claim(clientId: string, clean: boolean): Promise<LoadedSession | undefined> {
    const { broker, router, store, sessions } = this.#o;
    const local = broker.sessions.has(clientId);
    const entry = await sessions.get(ownerKey(clientId));
    const owner = entry?.operation === "PUT" ? decodeRecord<OwnerRecord>(entry.value) : undefined;
    let point: ReplayPoint | undefined;
    if (owner !== undefined && owner.instance !== router.instance) {
      point = await this.#takeOver(owner, clientId);
    }
    if (owner?.instance !== router.instance) {
      const record: OwnerRecord = { node: this.#o.node, instance: router.instance, at: Date.now() };
      await sessions.put(ownerKey(clientId), encodeRecord(record));
    }
    if (local) return undefined;
    if (clean) {
      // [MQTT-3.1.2-4] Clean Start: whatever another node stored for this client goes.
      await store.commit([{ kind: "deleteSession", clientId }]);
      return undefined;
    }
    const loaded = await store.loadSession(clientId);
    if (loaded === undefined || point === undefined) return loaded;
    const added = queueMissed(loaded, await readMissed(this.#o.js, this.#o.stream, point), Date.now());
    // Stored before the client is told its session is present, so that a second failure cannot lose them.
    await store.commit(added.map((entry) => ({ kind: "putOutbound", clientId, entry })));
    return loaded;
  }

  /** Asks the owner to let go; returns where to replay from, or undefined when nothing can be missing. */
  async #takeOver(owner: OwnerRecord, clientId: string): Promise<ReplayPoint | undefined> {
    const { nc, nodes } = this.#o;
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
    const beat = await nodes.get(escapeLevel(owner.instance));
    if (beat?.operation === "PUT") {
      const h = decodeRecord<Heartbeat>(beat.value);
      return { since: h.at - REPLAY_MARGIN_MS, seen: h.seen };
    }
    return { since: owner.at - REPLAY_MARGIN_MS, seen: {} };
  }
}
