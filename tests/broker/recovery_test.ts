import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { KvStore } from "../../src/persistence/kv_store.ts";
import { PacketType } from "../../src/protocol/packet.ts";
import { TestClient, text } from "../_helpers/test_client.ts";

async function withKv(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "recovery-" });
  try {
    await fn(`${dir}/broker.kv`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function start(path: string, clock = new ManualClock()): Promise<Engine> {
  const broker = new Engine({ clock, store: new KvStore({ path, commitWindowMs: 1 }) });
  await broker.start();
  return broker;
}

Deno.test("a persistent session, its queued messages and retained messages survive a restart", async () => {
  await withKv(async (path) => {
    let broker = await start(path);
    const first = await TestClient.connect(broker, { clientId: "keeper", clean: false });
    await first.client.subscribe("q/#", 1);
    first.client.disconnect();
    await first.client.closedByBroker();
    await broker.publish({ topic: "q/1", payload: "queued", qos: 1 });
    await broker.publish({ topic: "r/1", payload: "kept", retain: true, qos: 1 });
    await broker.close();

    broker = await start(path);
    const again = await TestClient.connect(broker, { clientId: "keeper", clean: false });
    assert.equal(again.connack.sessionPresent, true);
    assert.equal(text(await again.client.expect(PacketType.PUBLISH)), "queued");
    await again.client.subscribe("r/#");
    assert.equal(text(await again.client.expect(PacketType.PUBLISH)), "kept");
    await broker.close();
  });
});

Deno.test("an unacknowledged in-flight message is redelivered with DUP after a restart", async () => {
  await withKv(async (path) => {
    let broker = await start(path);
    const first = await TestClient.connect(broker, { clientId: "r", clean: false });
    await first.client.subscribe("f", 2);
    await broker.publish({ topic: "f", payload: "exactly once", qos: 2 });
    const original = await first.client.expect(PacketType.PUBLISH);
    await broker.close();

    broker = await start(path);
    const again = await TestClient.connect(broker, { clientId: "r", clean: false });
    const resent = await again.client.expect(PacketType.PUBLISH);
    assert.equal(resent.dup, true);
    assert.equal(resent.packetId, original.packetId);
    await broker.close();
  });
});

Deno.test("a session whose expiry passed while the broker was down is dropped at start", async () => {
  await withKv(async (path) => {
    const clock = new ManualClock();
    let broker = await start(path, clock);
    const c = await TestClient.connect(broker, {
      clientId: "short",
      protocolLevel: 5,
      clean: false,
      properties: { sessionExpiryInterval: 30 },
    });
    await c.client.subscribe("x", 1);
    c.client.disconnect();
    await c.client.closedByBroker();
    await broker.close();
    clock.advance(60_000);
    broker = await start(path, clock);
    assert.equal(broker.sessions.has("short"), false);
    await broker.close();
  });
});

Deno.test("a delayed will whose time came while the broker was down is published at start", async () => {
  await withKv(async (path) => {
    const clock = new ManualClock();
    let broker = await start(path, clock);
    const dying = await TestClient.connect(broker, {
      clientId: "d",
      protocolLevel: 5,
      clean: false,
      properties: { sessionExpiryInterval: 600 },
      will: {
        topic: "wills/d",
        payload: new TextEncoder().encode("late"),
        qos: 1,
        retain: true,
        properties: { willDelayInterval: 10 },
      },
    });
    dying.client.drop();
    await dying.client.closedByBroker();
    await broker.close();
    clock.advance(20_000);
    broker = await start(path, clock);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(text({ payload: broker.retained.get("wills/d")!.payload } as never), "late");
    await broker.close();
  });
});

Deno.test("message expiry keeps counting across a restart", async () => {
  await withKv(async (path) => {
    const clock = new ManualClock();
    let broker = await start(path, clock);
    const props = { sessionExpiryInterval: 600 };
    const c = await TestClient.connect(broker, {
      clientId: "m",
      protocolLevel: 5,
      clean: false,
      properties: props,
    });
    await c.client.subscribe("exp", 1);
    c.client.disconnect();
    await c.client.closedByBroker();
    await broker.publish({
      topic: "exp",
      payload: "long",
      qos: 1,
      properties: { messageExpiryInterval: 100 },
    });
    await broker.publish({
      topic: "exp",
      payload: "short",
      qos: 1,
      properties: { messageExpiryInterval: 10 },
    });
    await broker.close();
    clock.advance(30_000);
    broker = await start(path, clock);
    const again = await TestClient.connect(broker, {
      clientId: "m",
      protocolLevel: 5,
      clean: false,
      properties: props,
    });
    const got = await again.client.expect(PacketType.PUBLISH);
    assert.equal(text(got), "long");
    assert.equal(got.properties?.messageExpiryInterval, 70);
    assert.ok(await again.client.silentFor(30), "the expired message is dropped");
    await broker.close();
  });
});
