/**
 * Taking sessions in, caught up. A session that comes to this node from another one (a
 * takeover, or the adoption of a dead node's sessions) missed what the stream carried
 * after the point up to which its old node had routed and stored for it. Its new node
 * holds it unrouted, reads that range of the stream (replay.ts) and queues what the
 * session's subscriptions match — in order, against the queue limits — while its own
 * routing goes on; then, with its stream feed held at exactly the sequence where the read
 * ended, it starts routing to the session. Nothing is routed twice and nothing falls in
 * between.
 *
 * @module
 */
import type { JetStreamClient } from "nats";
import type { Logger } from "@logtape/logtape";
import type { MissedMessage, PeerPort } from "../broker/peers.ts";
import type { LoadedSession, StoredMessage } from "../persistence/store.ts";
import { retryTransient } from "./nats_retry.ts";
import { MissedSelector, readRange } from "./replay.ts";
import type { StreamFeed } from "./stream_feed.ts";

/** A session to take in, and the stream sequence its replay starts after (none: nothing to replay). */
export interface CatchUp {
  loaded: LoadedSession;
  from: number | undefined;
}

export interface CatchUpOptions {
  port: PeerPort;
  feed: StreamFeed;
  js: JetStreamClient;
  stream: string;
  log: Logger;
  /** Sessions of a node that died: held offline, their wills and expiry running. */
  orphans: boolean;
}

/** How long a catch-up waits for this node's stream feed to reach the end of what it replayed. */
const FEED_TIMEOUT_MS = 15_000;
/** Replayed messages are queued (and stored) this many at a time. */
const ADMIT_BATCH = 256;

/** Holds `sessions` here, caught up; resolves with those that were replayed, once what they missed is stored. */
export async function catchUp<T extends CatchUp>(sessions: T[], o: CatchUpOptions): Promise<T[]> {
  // Non-persistent sessions are stored only for their will: nothing to queue for them.
  const replayed = sessions.filter((s) => s.from !== undefined && s.loaded.session.expiryInterval > 0);
  for (const s of sessions) {
    const routed = !replayed.includes(s);
    o.port.adopt(s.loaded, { orphan: o.orphans, routed });
  }
  if (replayed.length === 0) return replayed;
  const picker = new MissedPicker(replayed, o.port);
  const from = Math.min(...replayed.map((s) => s.from!));
  const end = await readUntilFeed(o, from, (m) => picker.offer(m));
  const resume = await o.feed.holdAt(end, FEED_TIMEOUT_MS);
  try {
    // Past `end` only when the stream skipped sequences; the rest is read with routing held.
    if (o.feed.position > end) {
      await readRange(o.js, o.stream, { after: end, upTo: o.feed.position }, (m) => picker.offer(m));
    }
    picker.admit();
    for (const s of replayed) o.port.startRouting(s.loaded.session.clientId);
    o.log.debug("Caught up {clients} on stream messages ({from}, {end}]", {
      clients: replayed.map((s) => s.loaded.session.clientId).join(", "),
      from,
      end,
    });
  } finally {
    resume();
  }
  await o.port.flush();
  return replayed;
}

/**
 * Reads the stream after `from` up to its end, then on to where this node's feed has got
 * meanwhile, until the feed is no further than the read; returns the last sequence read.
 */
async function readUntilFeed(
  o: CatchUpOptions,
  from: number,
  visit: (message: StoredMessage) => void,
): Promise<number> {
  const jsm = await o.js.jetstreamManager();
  const info = await retryTransient(() => jsm.streams.info(o.stream));
  let end = Math.max(from, info.state.last_seq);
  await readRange(o.js, o.stream, { after: from, upTo: end }, visit);
  for (let position = o.feed.position; position > end; position = o.feed.position) {
    await readRange(o.js, o.stream, { after: end, upTo: position }, visit);
    end = position;
  }
  return end;
}

/** Picks, per session, what it missed from each message read, and queues it in batches. */
class MissedPicker {
  readonly #picks: { from: number; selector: MissedSelector; missed: MissedMessage[] }[];
  readonly #port: PeerPort;
  #pending = 0;

  constructor(sessions: CatchUp[], port: PeerPort) {
    this.#picks = sessions.map((s) => ({
      from: s.from!,
      selector: new MissedSelector(s.loaded),
      missed: [],
    }));
    this.#port = port;
  }

  offer(message: StoredMessage): void {
    const now = Date.now();
    for (const p of this.#picks) {
      if (message.streamSeq! <= p.from) continue;
      const missed = p.selector.select(message, now);
      if (missed !== undefined) p.missed.push(missed);
    }
    if (++this.#pending >= ADMIT_BATCH) this.admit();
  }

  /** Queues what was picked so far (against the queue limits; stored with the engine's next commit). */
  admit(): void {
    for (const p of this.#picks) {
      if (p.missed.length > 0) this.#port.admitMissed(p.selector.clientId, p.missed.splice(0));
    }
    this.#pending = 0;
  }
}
