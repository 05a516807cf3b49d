/**
 * Records of any size: KV takes values of at most 64 KiB, and every field of a
 * record (payload, properties, topic, filter, client id, will) can be larger.
 */
import assert from "node:assert/strict";
import { KvStore } from "../../src/persistence/kv_store.ts";
import type { Mutation, OutboundEntry, StoredMessage } from "../../src/persistence/store.ts";
import { encodeRecord, sizeBound } from "../../src/persistence/kv_records.ts";
import { serialize } from "node:v8";
import { rawKeys, withKvStore } from "../_helpers/temp_kv_store.ts";

async function reopened(path: string, fn: (store: KvStore) => Promise<void>): Promise<void> {
  const store = new KvStore({ path });
  await store.open();
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

const userProperties = (bytes: number): [string, string][] =>
  Array.from({ length: Math.ceil(bytes / 1000) }, (_, i) => [`k${i}`, "v".repeat(996)]);

const message = (topic: string, extra: Partial<StoredMessage> = {}): StoredMessage => ({
  topic,
  payload: new Uint8Array([1, 2, 3]),
  qos: 1,
  retain: false,
  ...extra,
});

Deno.test("sizeBound is never below the V8 serialization size that KV limits", () => {
  const samples: unknown[] = [
    message("a/b", {
      properties: { userProperties: userProperties(5000), correlationData: new Uint8Array(300) },
    }),
    { clientId: "é".repeat(100), protocolLevel: 5, expiryInterval: 0xffffffff, username: null },
    {
      filter: "😀/".repeat(50),
      qos: 2,
      noLocal: true,
      retainAsPublished: false,
      retainHandling: 1,
      subscriptionId: 268435455,
    },
    true,
  ];
  for (const value of samples) {
    assert.ok(sizeBound(value) >= serialize(value).length, JSON.stringify(value).slice(0, 80));
  }
});

Deno.test("a record whose fields other than the payload exceed 64 KiB is packed whole, in fresh chunks", () => {
  const entry: OutboundEntry = {
    seq: 1,
    packetId: 0,
    phase: "publish",
    qos: 1,
    message: message("big/props", { properties: { userProperties: userProperties(100_000) } }),
  };
  const encoded = encodeRecord(["out", "c", 1], "out", entry, { base: 0, count: 3 });
  assert.deepEqual(encoded.range, { base: 3, count: encoded.chunks.length });
  assert.ok(encoded.chunks.length >= 2);
  assert.deepEqual(Object.keys(encoded.record.value as object).sort(), ["chunkBase", "packed"]);
});

Deno.test("every kind of record loads back whatever the size of its fields", async () => {
  await withKvStore(async (store, path) => {
    const hugeId = "c".repeat(65535);
    const hugeFilter = "f/".repeat(32767) + "#";
    const hugeTopic = "t".repeat(65535);
    const bigWill = {
      delay: 30,
      message: message("wills/x", {
        payload: new Uint8Array(200_000).fill(9),
        properties: { userProperties: userProperties(90_000), contentType: "x".repeat(70_000) },
      }),
    };
    const entry: OutboundEntry = {
      seq: 4,
      packetId: 12,
      phase: "publish",
      qos: 2,
      message: message("big/props", {
        properties: {
          userProperties: userProperties(100_000),
          correlationData: new Uint8Array(80_000).fill(3),
        },
        origin: hugeId,
      }),
      subscriptionIds: [1, 2, 3],
    };
    const subscription = {
      filter: hugeFilter,
      qos: 1 as const,
      noLocal: false,
      retainAsPublished: true,
      retainHandling: 0 as const,
    };
    const retainedProps = message("r/props", {
      retain: true,
      properties: { correlationData: new Uint8Array(70_000).fill(1), responseTopic: "r".repeat(65535) },
    });
    const retainedTopic = message(hugeTopic, { retain: true });
    const mutations: Mutation[] = [
      {
        kind: "putSession",
        session: {
          clientId: hugeId,
          protocolLevel: 5,
          expiryInterval: 600,
          will: bigWill,
          username: "u".repeat(65535),
        },
      },
      { kind: "putSubscription", clientId: hugeId, subscription },
      { kind: "putOutbound", clientId: hugeId, entry },
      { kind: "putInbound", clientId: hugeId, packetId: 77 },
      { kind: "putRetained", message: retainedProps },
      { kind: "putRetained", message: retainedTopic },
    ];
    await store.commit(mutations);
    const check = async (s: KvStore) => {
      const snapshot = await s.load();
      const [loaded] = snapshot.sessions;
      assert.equal(loaded.session.clientId, hugeId);
      assert.deepEqual(loaded.session.will, bigWill);
      assert.deepEqual(loaded.subscriptions, [subscription]);
      assert.deepEqual(loaded.outbound, [entry]);
      assert.deepEqual(loaded.inbound, [77]);
      const retained = new Map(snapshot.retained.map((m) => [m.topic, m]));
      assert.deepEqual(retained.get("r/props"), retainedProps);
      assert.deepEqual(retained.get(hugeTopic), retainedTopic);
      assert.deepEqual((await s.loadSession(hugeId))?.outbound, [entry]);
    };
    await check(store);
    await store.close();
    await reopened(path, check);
  });
});

Deno.test("overwriting a chunked record puts its new chunks beside the stored ones, then leaves only the new", async () => {
  await withKvStore(async (store, path) => {
    const big = (size: number, fill: number) =>
      message("big", { retain: true, payload: new Uint8Array(size).fill(fill) });
    await store.commit([{ kind: "putRetained", message: big(130_000, 1) }]);
    const first = (await rawKeys(path, ["r"])).map((k) => k.slice(2));
    assert.deepEqual(first, [[], ["chunk", 0], ["chunk", 1], ["chunk", 2]]);
    await store.commit([{ kind: "putRetained", message: big(70_000, 2) }]);
    // Indices 3 and 4: a crash between writing them and the record leaves the stored version whole.
    assert.deepEqual((await rawKeys(path, ["r"])).map((k) => k.slice(2)), [[], ["chunk", 3], ["chunk", 4]]);
    await store.commit([{ kind: "putRetained", message: big(10, 3) }]);
    assert.deepEqual((await rawKeys(path, ["r"])).map((k) => k.slice(2)), [[]]);
    const [m] = (await store.load()).retained;
    assert.deepEqual(m.payload, new Uint8Array(10).fill(3));
  });
});

Deno.test("chunks no record refers to (a crash before their record) are ignored and removed at load", async () => {
  await withKvStore(async (store, path) => {
    await store.commit([{
      kind: "putRetained",
      message: message("kept", { retain: true, payload: new Uint8Array(100_000).fill(4) }),
    }]);
    await store.close();
    const kv = await Deno.openKv(path);
    await kv.set(["r", "kept", "chunk", 9], new Uint8Array(5));
    await kv.set(["r", "never-written", "chunk", 0], new Uint8Array(5));
    kv.close();
    await reopened(path, async (again) => {
      const [m] = (await again.load()).retained;
      assert.equal(m.payload.length, 100_000);
    });
    assert.deepEqual((await rawKeys(path, ["r"])).map((k) => k.slice(1)), [["kept"], ["kept", "chunk", 0], [
      "kept",
      "chunk",
      1,
    ]]);
  });
});
