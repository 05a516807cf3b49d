/**
 * Opening a store written under schema 1 (client ids starting with "#" kept
 * unescaped in keys) moves those sessions to their schema 2 keys, with all they own.
 */
import assert from "node:assert/strict";
import { KvStore } from "../../src/persistence/kv_store.ts";
import { SCHEMA_KEY, SCHEMA_VERSION } from "../../src/persistence/kv_keys.ts";

async function sha256Hex(s: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

const sub = (filter: string) => ({
  filter,
  qos: 1,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
});
const entry = (seq: number, payload: Uint8Array, chunks?: number) => ({
  seq,
  packetId: 0,
  phase: "publish",
  qos: 1,
  message: { topic: "t", payload, qos: 1, retain: false },
  ...(chunks === undefined ? {} : { chunks }),
});

/** Writes what a schema 1 broker wrote for a few sessions, straight into KV. */
async function writeSchema1(path: string, longId: string): Promise<void> {
  const kv = await Deno.openKv(path);
  const longPart = "#" + await sha256Hex(longId);
  const big = new Uint8Array(70_000).fill(5);
  await kv.atomic()
    .set(SCHEMA_KEY, 1)
    .set(["meta", "lock"], { owner: "x", pid: 1, host: "h", expiresAt: Date.now() + 60_000 })
    .set(["s", "#hash-lead"], { clientId: "#hash-lead", protocolLevel: 4, expiryInterval: 0xffffffff })
    .set(["sub", "#hash-lead", "a/#"], sub("a/#"))
    // A chunked outbound entry: its payload lives in two chunk keys under the record's key.
    .set(["out", "#hash-lead", 1], entry(1, new Uint8Array(0), 2))
    .set(["out", "#hash-lead", 1, "chunk", 0], big.subarray(0, 61_440))
    .set(["out", "#hash-lead", 1, "chunk", 1], big.subarray(61_440))
    .set(["in", "#hash-lead", 7], true)
    .set(["s", "plain"], { clientId: "plain", protocolLevel: 4, expiryInterval: 0xffffffff })
    .set(["sub", "plain", "p"], sub("p"))
    .set(["s", longPart], { clientId: longId, protocolLevel: 5, expiryInterval: 60 })
    .set(["sub", longPart, "l"], sub("l"))
    .commit();
  kv.close();
}

Deno.test("a schema 1 store is migrated: sessions of '#' client ids keep everything they own, others stay put", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kvmigrate-" });
  const path = `${dir}/broker.kv`;
  const longId = "long-".repeat(200);
  try {
    await writeSchema1(path, longId);
    // The schema 1 lease record of a process that is gone does not keep the store locked.
    const store = new KvStore({ path });
    await store.open();
    const sessions = new Map((await store.load()).sessions.map((s) => [s.session.clientId, s]));
    const hash = sessions.get("#hash-lead")!;
    assert.deepEqual(hash.subscriptions.map((s) => s.filter), ["a/#"]);
    assert.equal(hash.outbound[0].message.payload.length, 70_000);
    assert.ok(hash.outbound[0].message.payload.every((b) => b === 5));
    assert.deepEqual(hash.inbound, [7]);
    assert.deepEqual(sessions.get("plain")!.subscriptions.map((s) => s.filter), ["p"]);
    assert.deepEqual(sessions.get(longId)!.subscriptions.map((s) => s.filter), ["l"]);
    assert.equal((await store.loadSession("#hash-lead"))?.outbound.length, 1);
    // Deleting the migrated session leaves nothing behind under either key form.
    await store.commit([{ kind: "deleteSession", clientId: "#hash-lead" }]);
    await store.close();

    const kv = await Deno.openKv(path);
    const left: Deno.KvKey[] = [];
    for await (const e of kv.list({ prefix: [] })) left.push(e.key);
    assert.equal((await kv.get(SCHEMA_KEY)).value, SCHEMA_VERSION);
    assert.equal((await kv.get(["meta", "lock"])).value, null);
    kv.close();
    assert.equal(left.filter((k) => String(k[1]).includes("hash-lead")).length, 0, JSON.stringify(left));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a migration interrupted after moving a session's children finishes at the next open", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kvmigrate-" });
  const path = `${dir}/broker.kv`;
  try {
    const kv = await Deno.openKv(path);
    // As a crash would leave it: the subscription already under the new key, the record not.
    await kv.atomic()
      .set(SCHEMA_KEY, 1)
      .set(["s", "#half"], { clientId: "#half", protocolLevel: 4, expiryInterval: 0xffffffff })
      .set(["sub", "##half", "moved"], sub("moved"))
      .set(["sub", "#half", "not-yet"], sub("not-yet"))
      .commit();
    kv.close();
    const store = new KvStore({ path });
    await store.open();
    const [half] = (await store.load()).sessions;
    assert.equal(half.session.clientId, "#half");
    assert.deepEqual(half.subscriptions.map((s) => s.filter).sort(), ["moved", "not-yet"]);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
