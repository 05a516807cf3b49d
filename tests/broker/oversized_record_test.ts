/**
 * Issue #18 item 9 against the KV store: a record larger than Deno KV's 64 KiB
 * value limit (properties, a will) used to fail the whole group commit; and when a
 * commit does fail, memory must not run ahead of the store.
 */
import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { KvStore } from "../../src/persistence/kv_store.ts";
import type { Mutation, SnapshotStore } from "../../src/persistence/store.ts";
import { ConnackReturnCode, PacketType, Reason } from "../../src/protocol/packet.ts";
import { TestClient, text } from "../_helpers/test_client.ts";

/** ~100 KiB of user properties: over KV's value limit once stored with the message. */
const HUGE_PROPERTIES = {
  userProperties: Array.from({ length: 100 }, (_, i) => [`k${i}`, "v".repeat(1000)] as [string, string]),
};

async function withKv(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "oversized-" });
  try {
    await fn(`${dir}/broker.kv`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The property and CONNECT limits (limits.maxPropertyBytes, limits.maxConnectSize, 64 KiB) would refuse these records before they reach
 * the store: raised, as an operator may, so that the store's handling of them is what is tested.
 */
const LIMITS = { maxPropertyBytes: 1024 * 1024, maxConnectSize: 1024 * 1024 };

async function start(store: SnapshotStore): Promise<Engine> {
  const broker = new Engine({ clock: new ManualClock(), store, durability: "durable", limits: LIMITS });
  await broker.start();
  return broker;
}

const v5 = { protocolLevel: 5 as const, clean: false, properties: { sessionExpiryInterval: 3600 } };

Deno.test("a PUBLISH with 100 KiB of properties is stored and acknowledged, and so are the others committed with it", async () => {
  await withKv(async (path) => {
    const broker = await start(new KvStore({ path }));
    const offline = await TestClient.connect(broker, { clientId: "offline", ...v5 });
    await offline.client.subscribe("big/#", 1);
    offline.client.disconnect();
    await offline.client.closedByBroker();
    const big = await TestClient.connect(broker, { clientId: "big", protocolLevel: 5 });
    const others = await Promise.all(
      Array.from(
        { length: 10 },
        (_, i) => TestClient.connect(broker, { clientId: `other-${i}`, protocolLevel: 5 }),
      ),
    );
    // All in the same turn: one group commit.
    const bigId = big.client.publish("big/1", "huge properties", { qos: 1, properties: HUGE_PROPERTIES });
    const ids = others.map((o, i) => o.client.publish(`big/other/${i}`, `m${i}`, { qos: 1 }));
    assert.equal((await big.client.expect(PacketType.PUBACK)).packetId, bigId);
    for (const [i, o] of others.entries()) {
      const ack = await o.client.expect(PacketType.PUBACK);
      assert.equal(ack.packetId, ids[i]);
      assert.equal(ack.reasonCode, 0);
    }
    await broker.close();

    const again = await start(new KvStore({ path }));
    const back = await TestClient.connect(again, { clientId: "offline", ...v5 });
    assert.equal(back.connack.sessionPresent, true);
    const first = await back.client.expect(PacketType.PUBLISH);
    assert.equal(text(first), "huge properties");
    assert.deepEqual(first.properties?.userProperties, HUGE_PROPERTIES.userProperties);
    await again.close();
  });
});

Deno.test("an online persistent subscriber gets the oversized message and the ones after it (its window does not fill)", async () => {
  await withKv(async (path) => {
    const broker = await start(new KvStore({ path }));
    const sub = await TestClient.connect(broker, {
      clientId: "window",
      ...v5,
      properties: { sessionExpiryInterval: 3600, receiveMaximum: 2 },
    });
    await sub.client.subscribe("w/#", 1);
    const pub = await TestClient.connect(broker, { clientId: "pub", protocolLevel: 5 });
    pub.client.publish("w/big", "big", { qos: 1, properties: HUGE_PROPERTIES });
    for (let i = 0; i < 4; i++) pub.client.publish(`w/${i}`, `small ${i}`, { qos: 1 });
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = await sub.client.expect(PacketType.PUBLISH);
      got.push(text(p));
      sub.client.send({ type: PacketType.PUBACK, packetId: p.packetId!, reasonCode: 0 });
    }
    assert.deepEqual(got, ["big", "small 0", "small 1", "small 2", "small 3"]);
    await broker.close();
  });
});

Deno.test("a retained message with 75 KB of properties (correlation data, content type) is stored and served after a restart", async () => {
  await withKv(async (path) => {
    const correlationData = new Uint8Array(65_000).fill(7); // the most a Binary Data field holds
    const contentType = "x".repeat(10_000);
    let broker = await start(new KvStore({ path }));
    const pub = await TestClient.connect(broker, { clientId: "pub", protocolLevel: 5 });
    pub.client.publish("r/big", "kept", {
      qos: 1,
      retain: true,
      properties: { correlationData, contentType },
    });
    await pub.client.expect(PacketType.PUBACK);
    await broker.close();
    broker = await start(new KvStore({ path }));
    const sub = await TestClient.connect(broker, { clientId: "sub", protocolLevel: 5 });
    await sub.client.subscribe("r/#", 1);
    const got = await sub.client.expect(PacketType.PUBLISH);
    assert.equal(text(got), "kept");
    assert.deepEqual(got.properties?.correlationData, correlationData);
    assert.equal(got.properties?.contentType, contentType);
    await broker.close();
  });
});

Deno.test("a v5 CONNECT whose will carries 100 KiB of properties gets its CONNACK, and its will survives a restart", async () => {
  await withKv(async (path) => {
    let broker = await start(new KvStore({ path }));
    const will = {
      topic: "wills/big",
      payload: new TextEncoder().encode("gone"),
      qos: 1 as const,
      retain: false,
      properties: { ...HUGE_PROPERTIES, willDelayInterval: 60 },
    };
    const testator = await TestClient.connect(broker, { clientId: "testator", ...v5, will });
    assert.equal(testator.connack.reasonCode, 0);
    testator.client.drop();
    await testator.client.closedByBroker();
    await broker.close();
    const clock = new ManualClock();
    broker = new Engine({ clock, store: new KvStore({ path }), durability: "durable", limits: LIMITS });
    await broker.start();
    const watcher = await TestClient.connect(broker, { clientId: "watcher", protocolLevel: 5 });
    await watcher.client.subscribe("wills/#", 1);
    clock.advance(61_000);
    const got = await watcher.client.expect(PacketType.PUBLISH);
    assert.equal(text(got), "gone");
    assert.deepEqual(got.properties?.userProperties, HUGE_PROPERTIES.userProperties);
    await broker.close();
  });
});

/** A durable store that refuses any commit touching a topic under "poison/" or the client "poisoned". */
class PoisonedStore implements SnapshotStore {
  readonly durable = true;
  readonly #inner: SnapshotStore;
  constructor(inner: SnapshotStore) {
    this.#inner = inner;
  }
  open() {
    return this.#inner.open();
  }
  load() {
    return this.#inner.load();
  }
  close() {
    return this.#inner.close();
  }
  commit(mutations: Mutation[]): Promise<void> {
    const poisoned = mutations.some((m) =>
      (m.kind === "putRetained" && m.message.topic.startsWith("poison/")) ||
      (m.kind === "putOutbound" && m.entry.message.topic.startsWith("poison/")) ||
      (m.kind === "putSession" && m.session.clientId === "poisoned")
    );
    return poisoned ? Promise.reject(new Error("injected store failure")) : this.#inner.commit(mutations);
  }
}

Deno.test("a commit that fails is taken back in memory: no queued or in-flight copy, no retained message, no inbound QoS 2 id", async () => {
  await withKv(async (path) => {
    const broker = await start(new PoisonedStore(new KvStore({ path })));
    const online = await TestClient.connect(broker, {
      clientId: "online",
      ...v5,
      properties: { sessionExpiryInterval: 3600, receiveMaximum: 1 },
    });
    await online.client.subscribe("#", 2);
    const offline = await TestClient.connect(broker, { clientId: "offline", ...v5 });
    await offline.client.subscribe("#", 2);
    offline.client.disconnect();
    await offline.client.closedByBroker();

    const bad = await TestClient.connect(broker, { clientId: "bad", ...v5 });
    bad.client.publish("poison/1", "never stored", { qos: 2, retain: true, packetId: 9 });
    await bad.client.closedByBroker();
    const online2 = broker.sessions.get("online")!;
    assert.equal(online2.inflight.size, 0, "an entry that was never sent holds the window");
    assert.equal(broker.sessions.get("offline")!.queue.length, 0, "the message stayed queued");
    assert.equal(
      broker.retained.get("poison/1"),
      undefined,
      "a retained message that was not stored is served",
    );
    assert.equal(
      broker.sessions.get("bad")!.inbound2.has(9),
      false,
      "a resend would be taken as a duplicate",
    );

    // The window is free: the next message reaches the online subscriber.
    const good = await TestClient.connect(broker, { clientId: "good", protocolLevel: 5 });
    good.client.publish("fine/1", "stored", { qos: 1 });
    await good.client.expect(PacketType.PUBACK);
    assert.equal(text(await online.client.expect(PacketType.PUBLISH)), "stored");
    await broker.close();
  });
});

Deno.test("a CONNECT whose session cannot be stored gets a failing CONNACK, never a DISCONNECT first [MQTT-3.14.0-1]", async () => {
  await withKv(async (path) => {
    const broker = await start(new PoisonedStore(new KvStore({ path })));
    const v5client = await TestClient.connect(broker, { clientId: "poisoned", ...v5 });
    assert.equal(v5client.connack.reasonCode, Reason.UnspecifiedError);
    assert.deepEqual(await v5client.client.closedByBroker(), []);
    const v4client = await TestClient.connect(broker, { clientId: "poisoned", clean: false });
    assert.equal(v4client.connack.reasonCode, ConnackReturnCode.ServerUnavailable);
    await v4client.client.closedByBroker();
    await broker.close();
  });
});
