import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { PacketType, Reason } from "../../src/protocol/packet.ts";
import { TestClient, text } from "../_helpers/test_client.ts";

const will = (topic: string, payload: string, extra: Record<string, unknown> = {}) => ({
  topic,
  payload: new TextEncoder().encode(payload),
  qos: 0 as const,
  retain: false,
  ...extra,
});

Deno.test("the will is published when the connection drops without DISCONNECT [MQTT-3.1.2-8]", async () => {
  const b = new Engine({ clock: new ManualClock() });
  const watcher = await TestClient.connect(b, { clientId: "w" });
  await watcher.client.subscribe("wills/#");
  const dying = await TestClient.connect(b, { clientId: "d", will: will("wills/d", "gone") });
  dying.client.drop();
  assert.equal(text(await watcher.client.expect(PacketType.PUBLISH)), "gone");
});

Deno.test("a normal DISCONNECT discards the will [MQTT-3.1.2-10] [MQTT-3.14.4-3]", async () => {
  const b = new Engine({ clock: new ManualClock() });
  const watcher = await TestClient.connect(b, { clientId: "w" });
  await watcher.client.subscribe("wills/#");
  const leaving = await TestClient.connect(b, { clientId: "l", will: will("wills/l", "gone") });
  leaving.client.disconnect();
  assert.ok(await watcher.client.silentFor(50));
});

Deno.test("v5 DISCONNECT with reason 0x04 publishes the will", async () => {
  const b = new Engine({ clock: new ManualClock() });
  const watcher = await TestClient.connect(b, { clientId: "w" });
  await watcher.client.subscribe("wills/#");
  const leaving = await TestClient.connect(b, {
    clientId: "l",
    protocolLevel: 5,
    will: will("wills/l", "asked"),
  });
  leaving.client.disconnect(Reason.DisconnectWithWillMessage);
  assert.equal(text(await watcher.client.expect(PacketType.PUBLISH)), "asked");
});

Deno.test("a retained will is published as a retained message", async () => {
  const b = new Engine({ clock: new ManualClock() });
  const dying = await TestClient.connect(b, {
    clientId: "d",
    will: will("status/d", "offline", { retain: true }),
  });
  dying.client.drop();
  await dying.client.closedByBroker();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(b.retained.get("status/d")?.retain, true);
});

Deno.test("a delayed will is not sent when the client reconnects within the delay [MQTT-3.1.3-9]", async () => {
  const clock = new ManualClock();
  const b = new Engine({ clock });
  const watcher = await TestClient.connect(b, { clientId: "w" });
  await watcher.client.subscribe("wills/#");
  const props = { sessionExpiryInterval: 600 };
  const first = await TestClient.connect(b, {
    clientId: "d",
    protocolLevel: 5,
    clean: false,
    properties: props,
    will: will("wills/d", "late", { properties: { willDelayInterval: 30 } }),
  });
  first.client.drop();
  await first.client.closedByBroker();
  clock.advance(10_000);
  await TestClient.connect(b, { clientId: "d", protocolLevel: 5, clean: false, properties: props });
  clock.advance(60_000);
  assert.ok(await watcher.client.silentFor(50));
});

Deno.test("a delayed will is published after its delay", async () => {
  const clock = new ManualClock();
  const b = new Engine({ clock });
  const watcher = await TestClient.connect(b, { clientId: "w" });
  await watcher.client.subscribe("wills/#");
  const first = await TestClient.connect(b, {
    clientId: "d",
    protocolLevel: 5,
    properties: { sessionExpiryInterval: 600 },
    will: will("wills/d", "late", { properties: { willDelayInterval: 30 } }),
  });
  first.client.drop();
  await first.client.closedByBroker();
  clock.advance(29_000);
  assert.ok(await watcher.client.silentFor(20));
  clock.advance(1_000);
  assert.equal(text(await watcher.client.expect(PacketType.PUBLISH)), "late");
});

Deno.test("a session is removed when its expiry interval passes [MQTT-4.1.0-2]", async () => {
  const clock = new ManualClock();
  const b = new Engine({ clock });
  const c = await TestClient.connect(b, {
    clientId: "e",
    protocolLevel: 5,
    properties: { sessionExpiryInterval: 10 },
  });
  await c.client.subscribe("x");
  c.client.disconnect();
  await c.client.closedByBroker();
  clock.advance(9_000);
  assert.ok(b.sessions.has("e"));
  clock.advance(1_000);
  assert.equal(b.sessions.has("e"), false);
  assert.equal(b.tree.size, 0);
});

Deno.test("DISCONNECT cannot raise the session expiry interval from 0 [MQTT-3.14.2-2]", async () => {
  const b = new Engine({ clock: new ManualClock() });
  const { client } = await TestClient.connect(b, { clientId: "z", protocolLevel: 5 });
  client.send({ type: PacketType.DISCONNECT, reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
  const packets = await client.closedByBroker();
  assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.ProtocolError);
});

Deno.test("a persistent 3.1.1 session queues QoS 1 messages while offline and delivers them on return", async () => {
  const b = new Engine({ clock: new ManualClock() });
  const first = await TestClient.connect(b, { clientId: "p", clean: false });
  await first.client.subscribe("q", 1);
  first.client.disconnect();
  await first.client.closedByBroker();
  await b.publish({ topic: "q", payload: "1", qos: 1 });
  await b.publish({ topic: "q", payload: "2", qos: 1 });
  await b.publish({ topic: "q", payload: "zero", qos: 0 });
  const again = await TestClient.connect(b, { clientId: "p", clean: false });
  assert.equal(again.connack.sessionPresent, true);
  assert.equal(text(await again.client.expect(PacketType.PUBLISH)), "1");
  assert.equal(text(await again.client.expect(PacketType.PUBLISH)), "2");
  assert.ok(await again.client.silentFor(30), "QoS 0 is not queued by default");
  assert.equal(b.stats.dropped.offline_qos0, 1);
});

Deno.test("unacknowledged messages are resent with DUP on reconnect [MQTT-4.4.0-1]", async () => {
  const b = new Engine({ clock: new ManualClock() });
  const first = await TestClient.connect(b, { clientId: "r", clean: false });
  await first.client.subscribe("r", 1);
  await b.publish({ topic: "r", payload: "again", qos: 1 });
  const original = await first.client.expect(PacketType.PUBLISH);
  first.client.drop();
  await first.client.closedByBroker();
  const again = await TestClient.connect(b, { clientId: "r", clean: false });
  const resent = await again.client.expect(PacketType.PUBLISH);
  assert.equal(resent.dup, true);
  assert.equal(resent.packetId, original.packetId);
  assert.equal(text(resent), "again");
});

Deno.test("a PUBREL not yet completed is resent on reconnect [MQTT-4.4.0-2]", async () => {
  const b = new Engine({ clock: new ManualClock() });
  const first = await TestClient.connect(b, { clientId: "r2", clean: false });
  await first.client.subscribe("r2", 2);
  await b.publish({ topic: "r2", payload: "x", qos: 2 });
  const got = await first.client.expect(PacketType.PUBLISH);
  first.client.send({ type: PacketType.PUBREC, packetId: got.packetId!, reasonCode: 0 });
  await first.client.expect(PacketType.PUBREL);
  first.client.drop();
  await first.client.closedByBroker();
  const again = await TestClient.connect(b, { clientId: "r2", clean: false });
  const rel = await again.client.expect(PacketType.PUBREL);
  assert.equal(rel.packetId, got.packetId);
  assert.ok(await again.client.silentFor(20), "the PUBLISH itself is not resent");
});

Deno.test("the offline queue is bounded and overflow is counted", async () => {
  const b = new Engine({ clock: new ManualClock(), limits: { maxQueuedMessages: 3 } });
  const first = await TestClient.connect(b, { clientId: "b", clean: false });
  await first.client.subscribe("b", 1);
  first.client.disconnect();
  await first.client.closedByBroker();
  for (let i = 0; i < 5; i++) await b.publish({ topic: "b", payload: `${i}`, qos: 1 });
  assert.equal(b.sessions.get("b")!.queue.length, 3);
  assert.equal(b.stats.dropped.queue_full, 2);
});
