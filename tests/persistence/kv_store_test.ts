import assert from "node:assert/strict";
import { KvStore } from "../../src/persistence/kv_store.ts";
import type { StoredMessage, StoredSubscription } from "../../src/persistence/store.ts";
import { rawKeys, withKvStore } from "../_helpers/temp_kv_store.ts";
import { runStoreSuite } from "./store_suite.ts";

async function tempPath(): Promise<{ path: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "kvstore-" });
  return { path: `${dir}/broker.kv`, dir };
}

runStoreSuite("KvStore", async () => {
  const { path, dir } = await tempPath();
  let current = new KvStore({ path, commitWindowMs: 1 });
  return {
    store: current,
    async reopen() {
      await current.close();
      current = new KvStore({ path });
      await current.open();
      return current;
    },
    async cleanup() {
      await current.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});

const withStore = (fn: (store: KvStore, path: string) => Promise<void>) =>
  withKvStore(fn, { commitWindowMs: 2 });

/** A QoS 1 subscription to a/#. */
const sub: StoredSubscription = {
  filter: "a/#",
  qos: 1,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
};

const big = (size: number, fill: number): StoredMessage => ({
  topic: "big",
  payload: new Uint8Array(size).fill(fill),
  qos: 1,
  retain: true,
});

Deno.test("KvStore: a 1 MiB payload is chunked, reassembled, and overwritten without orphan chunks", async () => {
  await withStore(async (store, path) => {
    await store.commit([{ kind: "putRetained", message: big(1024 * 1024, 7) }]);
    let [m] = (await store.load()).retained;
    assert.equal(m.payload.length, 1024 * 1024);
    assert.ok(m.payload.every((b) => b === 7));
    await store.commit([{ kind: "putRetained", message: big(100, 9) }]);
    [m] = (await store.load()).retained;
    assert.equal(m.payload.length, 100);
    assert.equal((await rawKeys(path, ["r"])).length, 1, "only the record is left");
  });
});

Deno.test("KvStore: a batch over 1000 mutations is split into several atomics", async () => {
  await withStore(async (store) => {
    const mutations = Array.from({ length: 2500 }, (_, i) => ({
      kind: "putRetained" as const,
      message: { topic: `t/${i}`, payload: new Uint8Array([1]), qos: 0 as const, retain: true },
    }));
    await store.commit(mutations);
    assert.ok(store.atomics >= 3);
    assert.equal((await store.load()).retained.length, 2500);
  });
});

Deno.test("KvStore: concurrent commits are grouped into few writes", async () => {
  await withStore(async (store) => {
    const before = store.groupWrites;
    await Promise.all(
      Array.from(
        { length: 100 },
        (_, i) => store.commit([{ kind: "putInbound", clientId: "c", packetId: i + 1 }]),
      ),
    );
    assert.ok(store.groupWrites - before <= 5, `${store.groupWrites - before} writes for 100 commits`);
  });
});

Deno.test("KvStore: very long client ids and topics still work as keys", async () => {
  await withStore(async (store) => {
    const id = "c".repeat(5000);
    const topic = "t/".repeat(3000);
    await store.commit([
      { kind: "putSession", session: { clientId: id, protocolLevel: 5, expiryInterval: 9 } },
      {
        kind: "putSubscription",
        clientId: id,
        subscription: { filter: topic, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      },
      { kind: "putRetained", message: { topic, payload: new Uint8Array([1]), qos: 0, retain: true } },
    ]);
    const snap = await store.load();
    assert.equal(snap.sessions[0].session.clientId, id);
    assert.equal(snap.sessions[0].subscriptions[0].filter, topic);
    assert.equal(snap.retained[0].topic, topic);
  });
});

Deno.test("KvStore: a second store on the same file fails with a clear message", async () => {
  await withStore(async (_store, path) => {
    const second = new KvStore({ path });
    await assert.rejects(() => second.open(), /in use by another broker process/);
  });
});

Deno.test("KvStore: stores opened with exclusive: false share one file and see each other's writes", async () => {
  const { path, dir } = await tempPath();
  const a = new KvStore({ path, exclusive: false });
  const b = new KvStore({ path, exclusive: false });
  try {
    await a.open();
    await b.open();
    await a.commit([{
      kind: "putRetained",
      message: { topic: "from/a", payload: new Uint8Array([1]), qos: 0, retain: true },
    }]);
    await b.commit([{
      kind: "putRetained",
      message: { topic: "from/b", payload: new Uint8Array([2]), qos: 0, retain: true },
    }]);
    const seen = (await a.load()).retained.map((m) => m.topic).sort();
    assert.deepEqual(seen, ["from/a", "from/b"]);
    // Neither took the lock, so an exclusive store can still open the file.
    const exclusive = new KvStore({ path });
    await exclusive.open();
    await exclusive.close();
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvStore: loadSession reads one client's session, subscriptions, queue (large payloads too) and inbound ids, and no one else's", async () => {
  await withStore(async (store) => {
    const entry = (seq: number, size: number) => ({
      seq,
      packetId: 0,
      phase: "publish" as const,
      qos: 1 as const,
      message: { topic: "a/b", payload: new Uint8Array(size).fill(seq), qos: 1 as const, retain: false },
    });
    await store.commit([
      { kind: "putSession", session: { clientId: "mine", protocolLevel: 5, expiryInterval: 60 } },
      { kind: "putSubscription", clientId: "mine", subscription: sub },
      { kind: "putOutbound", clientId: "mine", entry: entry(2, 200_000) },
      { kind: "putOutbound", clientId: "mine", entry: entry(1, 10) },
      { kind: "putInbound", clientId: "mine", packetId: 7 },
      { kind: "putSession", session: { clientId: "mine-too", protocolLevel: 5, expiryInterval: 60 } },
      { kind: "putSubscription", clientId: "mine-too", subscription: { ...sub, filter: "other" } },
    ]);
    const loaded = await store.loadSession("mine");
    assert.equal(loaded?.session.clientId, "mine");
    assert.deepEqual(loaded.subscriptions.map((s) => s.filter), ["a/#"]);
    assert.deepEqual(loaded.outbound.map((e) => [e.seq, e.message.payload.length]), [[1, 10], [2, 200_000]]);
    assert.equal(loaded.outbound[1].message.payload[199_999], 2);
    assert.deepEqual(loaded.inbound, [7]);
    assert.equal(await store.loadSession("nobody"), undefined);
  });
});

Deno.test("KvStore: a second broker process on the same file fails at start", async () => {
  await withStore(async (_store, path) => {
    const code = `import { KvStore } from "${
      new URL("../../src/persistence/kv_store.ts", import.meta.url).href
    }";
      try { await new KvStore({ path: ${JSON.stringify(path)} }).open(); console.log("opened"); }
      catch (e) { console.log(e.message); }`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--unstable-kv", code],
      env: { RUST_BACKTRACE: "0" },
    }).output();
    assert.match(new TextDecoder().decode(out.stdout), /in use by another broker process/);
  });
});

async function sha256Hex(s: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("KvStore: a client id spelled like a long id's key digest does not get that session after a restart", async () => {
  const { path, dir } = await tempPath();
  const victim = "victim-".repeat(100); // 700 bytes: stored under "#" + its digest
  const forged = "#" + await sha256Hex(victim);
  const sub = {
    filter: "secret/#",
    qos: 1 as const,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0 as const,
  };
  const message = { topic: "secret/1", payload: new Uint8Array([42]), qos: 1 as const, retain: false };
  try {
    let store = new KvStore({ path });
    await store.open();
    await store.commit([
      { kind: "putSession", session: { clientId: victim, protocolLevel: 5, expiryInterval: 600 } },
      { kind: "putSubscription", clientId: victim, subscription: sub },
      {
        kind: "putOutbound",
        clientId: victim,
        entry: { seq: 1, packetId: 0, phase: "publish", qos: 1, message },
      },
    ]);
    await store.close();

    store = new KvStore({ path });
    await store.open();
    assert.equal(await store.loadSession(forged), undefined, "nothing is stored for the forged id");
    await store.commit([
      { kind: "putSession", session: { clientId: forged, protocolLevel: 5, expiryInterval: 600 } },
    ]);
    await store.close();

    store = new KvStore({ path });
    await store.open();
    const sessions = new Map((await store.load()).sessions.map((s) => [s.session.clientId, s]));
    assert.deepEqual(sessions.get(forged)?.subscriptions, []);
    assert.deepEqual(sessions.get(forged)?.outbound, []);
    assert.deepEqual(sessions.get(victim)?.subscriptions.map((s) => s.filter), ["secret/#"]);
    assert.equal(sessions.get(victim)?.outbound.length, 1);
    assert.deepEqual((await store.loadSession(forged))?.subscriptions, []);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test('KvStore: a client id spelled "chunk" keeps its subscriptions and queue (they are records, not chunks)', async () => {
  await withStore(async (store, path) => {
    await store.commit([
      { kind: "putSession", session: { clientId: "chunk", protocolLevel: 4, expiryInterval: 0xffffffff } },
      { kind: "putSubscription", clientId: "chunk", subscription: sub },
      {
        kind: "putOutbound",
        clientId: "chunk",
        entry: { seq: 1, packetId: 0, phase: "publish", qos: 1, message: big(100, 1) },
      },
      { kind: "putInbound", clientId: "chunk", packetId: 3 },
    ]);
    await store.close();
    const again = new KvStore({ path });
    await again.open();
    const [loaded] = (await again.load()).sessions;
    await again.close();
    assert.deepEqual(loaded.subscriptions, [sub]);
    assert.equal(loaded.outbound.length, 1);
    assert.deepEqual(loaded.inbound, [3]);
  });
});
