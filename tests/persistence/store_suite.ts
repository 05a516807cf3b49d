/**
 * One suite for every Store implementation: each behaviour is checked against
 * MemoryStore and KvStore alike.
 */
import assert from "node:assert/strict";
import type { OutboundEntry, Store, StoredMessage } from "../../src/persistence/store.ts";

export interface StoreFixture {
  store: Store;
  /** Closes and reopens the same state (KV: the same file). */
  reopen?: () => Promise<Store>;
  cleanup: () => Promise<void>;
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

export function runStoreSuite(name: string, make: () => Promise<StoreFixture>): void {
  const test = (title: string, fn: (f: StoreFixture) => Promise<void>) =>
    Deno.test(`${name}: ${title}`, async () => {
      const f = await make();
      await f.store.open();
      try {
        await fn(f);
      } finally {
        await f.cleanup();
      }
    });

  test("a session with subscriptions, queue and inbound ids loads back", async ({ store }) => {
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
    const snap = await store.load();
    assert.equal(snap.sessions.length, 1);
    const s = snap.sessions[0];
    assert.equal(s.session.expiryInterval, 60);
    assert.equal(s.subscriptions[0].subscriptionId, 4);
    assert.deepEqual(s.outbound.map((e) => e.seq), [1, 2], "sorted by sequence");
    assert.equal(s.outbound[1].packetId, 7);
    assert.equal(new TextDecoder().decode(s.outbound[0].message.payload), "p1");
    assert.deepEqual(s.inbound, [9]);
  });

  test("deletes remove single records", async ({ store }) => {
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
    const s = (await store.load()).sessions[0];
    assert.deepEqual([s.subscriptions.length, s.outbound.length, s.inbound.length], [0, 0, 0]);
  });

  test("deleting a session removes everything it owns, even puts earlier in the same commit", async ({ store }) => {
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
    const snap = await store.load();
    assert.equal(snap.sessions.length, 1);
    assert.equal(snap.sessions[0].session.expiryInterval, 20);
    assert.deepEqual(snap.sessions[0].subscriptions, []);
    assert.deepEqual(snap.sessions[0].outbound, []);
  });

  test("retained messages are stored, replaced and deleted", async ({ store }) => {
    await store.commit([{ kind: "putRetained", message: { ...message("r/1", "old"), retain: true } }]);
    await store.commit([{ kind: "putRetained", message: { ...message("r/1", "new"), retain: true } }]);
    await store.commit([{ kind: "putRetained", message: { ...message("r/2"), retain: true } }]);
    await store.commit([{ kind: "deleteRetained", topic: "r/2" }]);
    const retained = (await store.load()).retained;
    assert.deepEqual(retained.map((m) => [m.topic, new TextDecoder().decode(m.payload)]), [["r/1", "new"]]);
  });

  test("concurrent commits all complete and keep their order per key", async ({ store }) => {
    const commits = [];
    for (let i = 0; i < 200; i++) {
      commits.push(
        store.commit([{ kind: "putRetained", message: { ...message("same", `${i}`), retain: true } }]),
      );
    }
    await Promise.all(commits);
    const [m] = (await store.load()).retained;
    assert.equal(new TextDecoder().decode(m.payload), "199");
  });

  test("state survives closing and reopening the store", async (f) => {
    if (!f.reopen) return;
    await f.store.commit([
      {
        kind: "putSession",
        session: { clientId: "durable", protocolLevel: 4, expiryInterval: 0xffffffff, disconnectedAt: 5 },
      },
      { kind: "putRetained", message: { ...message("keep"), retain: true } },
    ]);
    const again = await f.reopen();
    const snap = await again.load();
    assert.equal(snap.sessions[0].session.clientId, "durable");
    assert.equal(snap.sessions[0].session.disconnectedAt, 5);
    assert.equal(snap.retained[0].topic, "keep");
  });
}
