/**
 * One suite for every store: each behaviour is checked against MemoryStore, KvStore,
 * JetStreamStore and SharedKvStore alike. What is written is read back the store's own
 * way: all at once from a SnapshotStore (`load`), one session at a time from a
 * ClaimingStore (`loadSession`). A test that cannot apply to a store is skipped by name,
 * with the reason, which the test's name then shows.
 */
import assert from "node:assert/strict";
import type {
  BrokerStore,
  LoadedSession,
  OutboundEntry,
  StoredMessage,
} from "../../src/persistence/store.ts";

export interface StoreFixture {
  store: BrokerStore;
  /** Closes and reopens the same state (KV: the same file; JetStream: the same buckets). */
  reopen?: () => Promise<BrokerStore>;
  /**
   * The retained messages as stored, for a store that does not read them back itself
   * (the cluster's nodes follow the retained bucket with a watcher).
   */
  retained?: () => Promise<StoredMessage[]>;
  cleanup: () => Promise<void>;
}

/** Tests of the suite that do not apply to a store, and why. */
export interface SuiteSkip {
  reason: string;
  /** Titles of the suite's tests, or "all" (the store cannot run here, e.g. no nats-server). */
  tests: string[] | "all";
}

export interface SuiteOptions {
  skip?: SuiteSkip[];
  /** False for stores whose client keeps timers and sockets beyond a test (NATS). */
  sanitize?: boolean;
}

const message = (topic: string, text = "m"): StoredMessage => ({
  topic,
  payload: new TextEncoder().encode(text),
  qos: 1,
  retain: false,
});

const entry = (seq: number, packetId = 0): OutboundEntry => ({
  seq,
  packetId,
  phase: "publish",
  qos: 1,
  message: message(`t/${seq}`, `p${seq}`),
});

/** One session read back the store's own way. */
async function sessionOf(store: BrokerStore, clientId: string): Promise<LoadedSession | undefined> {
  if ("load" in store) return (await store.load()).sessions.find((s) => s.session.clientId === clientId);
  return await store.loadSession(clientId);
}

/** The retained messages read back, by topic. */
async function retainedOf(f: StoreFixture): Promise<StoredMessage[]> {
  const store = f.store;
  const all = "load" in store ? (await store.load()).retained : await f.retained!();
  return all.sort((a, b) => a.topic < b.topic ? -1 : 1);
}

const TITLES = {
  session: "a session with subscriptions, queue and inbound ids loads back",
  absent: "a client id never stored has no session",
  deletes: "deletes remove single records",
  deleteSession: "deleting a session removes everything it owns, even puts earlier in the same commit",
  snapshot: "a snapshot holds every session and every retained message",
  retained: "retained messages are stored, replaced and deleted",
  concurrent: "concurrent commits all complete and keep their order per key",
  reopen: "state survives closing and reopening the store",
} as const;

export function runStoreSuite(
  name: string,
  make: () => Promise<StoreFixture>,
  options: SuiteOptions = {},
): void {
  const skips = options.skip ?? [];
  const titles: string[] = Object.values(TITLES);
  for (const skip of skips) {
    for (const title of skip.tests === "all" ? [] : skip.tests) {
      if (!titles.includes(title)) throw new Error(`${name}: no test "${title}" to skip`);
    }
  }
  const test = (title: string, fn: (f: StoreFixture) => Promise<void>) => {
    const skip = skips.find((s) => s.tests === "all" || s.tests.includes(title));
    Deno.test({
      name: skip === undefined ? `${name}: ${title}` : `${name}: ${title} (skipped: ${skip.reason})`,
      ignore: skip !== undefined,
      sanitizeOps: options.sanitize ?? true,
      sanitizeResources: options.sanitize ?? true,
      async fn() {
        const f = await make();
        try {
          await f.store.open();
          await fn(f);
        } finally {
          await f.cleanup();
        }
      },
    });
  };

  test(TITLES.session, async ({ store }) => {
    await store.commit([
      { kind: "putSession", session: { clientId: "c1", protocolLevel: 5, expiryInterval: 60 } },
      {
        kind: "putSubscription",
        clientId: "c1",
        subscription: {
          filter: "a/#",
          qos: 1,
          noLocal: true,
          retainAsPublished: false,
          retainHandling: 1,
          subscriptionId: 4,
        },
      },
      { kind: "putOutbound", clientId: "c1", entry: entry(2, 7) },
      { kind: "putOutbound", clientId: "c1", entry: entry(1) },
      { kind: "putInbound", clientId: "c1", packetId: 9 },
    ]);
    const s = await sessionOf(store, "c1");
    assert.equal(s?.session.expiryInterval, 60);
    assert.equal(s.subscriptions[0].subscriptionId, 4);
    assert.equal(s.subscriptions[0].noLocal, true);
    assert.deepEqual(s.outbound.map((e) => e.seq), [1, 2], "sorted by sequence");
    assert.equal(s.outbound[1].packetId, 7);
    assert.equal(new TextDecoder().decode(s.outbound[0].message.payload), "p1");
    assert.deepEqual(s.inbound, [9]);
  });

  test(TITLES.absent, async ({ store }) => {
    await store.commit([{
      kind: "putSession",
      session: { clientId: "x", protocolLevel: 4, expiryInterval: 1 },
    }]);
    assert.equal(await sessionOf(store, "y"), undefined);
  });

  test(TITLES.deletes, async ({ store }) => {
    await store.commit([
      { kind: "putSession", session: { clientId: "c", protocolLevel: 4, expiryInterval: 0xffffffff } },
      {
        kind: "putSubscription",
        clientId: "c",
        subscription: { filter: "x", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      },
      { kind: "putOutbound", clientId: "c", entry: entry(1) },
      { kind: "putInbound", clientId: "c", packetId: 3 },
    ]);
    await store.commit([
      { kind: "deleteSubscription", clientId: "c", filter: "x" },
      { kind: "deleteOutbound", clientId: "c", seq: 1 },
      { kind: "deleteInbound", clientId: "c", packetId: 3 },
    ]);
    const s = await sessionOf(store, "c");
    assert.deepEqual([s?.subscriptions.length, s?.outbound.length, s?.inbound.length], [0, 0, 0]);
  });

  test(TITLES.deleteSession, async ({ store }) => {
    await store.commit([
      { kind: "putSession", session: { clientId: "gone", protocolLevel: 4, expiryInterval: 10 } },
      { kind: "putOutbound", clientId: "gone", entry: entry(1) },
    ]);
    await store.commit([
      {
        kind: "putSubscription",
        clientId: "gone",
        subscription: { filter: "y", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      },
      { kind: "deleteSession", clientId: "gone" },
      { kind: "putSession", session: { clientId: "gone", protocolLevel: 5, expiryInterval: 20 } },
    ]);
    const s = await sessionOf(store, "gone");
    assert.equal(s?.session.expiryInterval, 20);
    assert.deepEqual(s.subscriptions, []);
    assert.deepEqual(s.outbound, []);
    await store.commit([{ kind: "deleteSession", clientId: "gone" }]);
    assert.equal(await sessionOf(store, "gone"), undefined);
  });

  test(TITLES.snapshot, async ({ store }) => {
    assert.ok("load" in store, "a store without load() must skip this test");
    await store.commit([
      { kind: "putSession", session: { clientId: "a", protocolLevel: 4, expiryInterval: 5 } },
      { kind: "putSession", session: { clientId: "b", protocolLevel: 5, expiryInterval: 6 } },
      { kind: "putRetained", message: { ...message("r"), retain: true } },
    ]);
    const snap = await store.load();
    assert.deepEqual(snap.sessions.map((s) => s.session.clientId).sort(), ["a", "b"]);
    assert.deepEqual(snap.retained.map((m) => m.topic), ["r"]);
  });

  test(TITLES.retained, async (f) => {
    await f.store.commit([{ kind: "putRetained", message: { ...message("r/1", "old"), retain: true } }]);
    await f.store.commit([{ kind: "putRetained", message: { ...message("r/1", "new"), retain: true } }]);
    await f.store.commit([{ kind: "putRetained", message: { ...message("r/2"), retain: true } }]);
    await f.store.commit([{ kind: "deleteRetained", topic: "r/2" }]);
    const retained = await retainedOf(f);
    assert.deepEqual(retained.map((m) => [m.topic, new TextDecoder().decode(m.payload)]), [["r/1", "new"]]);
  });

  test(TITLES.concurrent, async (f) => {
    const commits = [];
    for (let i = 0; i < 200; i++) {
      commits.push(
        f.store.commit([{ kind: "putRetained", message: { ...message("same", `${i}`), retain: true } }]),
      );
    }
    await Promise.all(commits);
    const [m] = await retainedOf(f);
    assert.equal(new TextDecoder().decode(m.payload), "199");
  });

  test(TITLES.reopen, async (f) => {
    assert.ok(f.reopen !== undefined, "a store that cannot reopen must skip this test");
    await f.store.commit([
      {
        kind: "putSession",
        session: { clientId: "durable", protocolLevel: 4, expiryInterval: 0xffffffff, disconnectedAt: 5 },
      },
      { kind: "putRetained", message: { ...message("keep"), retain: true } },
    ]);
    const again = await f.reopen();
    const s = await sessionOf(again, "durable");
    assert.equal(s?.session.disconnectedAt, 5);
    const retained = await retainedOf({ ...f, store: again });
    assert.deepEqual(retained.map((m) => m.topic), ["keep"]);
  });
}
