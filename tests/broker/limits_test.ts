/** Each limit against abuse, at its edge. */
import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { PacketType, Reason } from "../../src/protocol/packet.ts";
import { TestClient } from "../_helpers/test_client.ts";

const reasonOf = (packets: { type: number }[]) =>
  (packets.find((p) => p.type === PacketType.DISCONNECT) as { reasonCode: number } | undefined)?.reasonCode;

Deno.test("limits: the inbound message rate per client, over it 0x96", async () => {
  const b = new Engine({ clock: new ManualClock(), limits: { messageRate: 3 } });
  const c = await TestClient.connect(b, { clientId: "r", protocolLevel: 5 });
  for (let i = 0; i < 3; i++) c.client.publish("t", "x");
  c.client.send({ type: PacketType.PINGREQ });
  await c.client.expect(PacketType.PINGRESP);
  c.client.publish("t", "x");
  assert.equal(reasonOf(await c.client.closedByBroker()), Reason.MessageRateTooHigh);
});

Deno.test("limits: a packet over the maximum packet size gets 0x95", async () => {
  const b = new Engine({ clock: new ManualClock(), mqtt: { maxPacketSize: 100 } });
  const c = await TestClient.connect(b, { clientId: "big", protocolLevel: 5 });
  assert.equal(c.connack.properties?.maximumPacketSize, 100);
  c.client.publish("t", new Uint8Array(90));
  c.client.send({ type: PacketType.PINGREQ });
  await c.client.expect(PacketType.PINGRESP);
  c.client.publish("t", new Uint8Array(100));
  assert.equal(reasonOf(await c.client.closedByBroker()), Reason.PacketTooLarge);
});

Deno.test("limits: topic levels and length", async () => {
  const b = new Engine({ clock: new ManualClock(), limits: { maxTopicLevels: 3, maxTopicLength: 20 } });
  const c = await TestClient.connect(b, { clientId: "l", protocolLevel: 5 });
  assert.deepEqual((await c.client.subscribe("a/b/c/d")).reasonCodes, [Reason.TopicFilterInvalid]);
  assert.deepEqual((await c.client.subscribe("a/b/c")).reasonCodes, [0]);
  c.client.publish("a/b/c/d", "x");
  assert.equal(reasonOf(await c.client.closedByBroker()), Reason.TopicNameInvalid);
});

Deno.test("limits: connections beyond the global maximum are closed at once", async () => {
  const b = new Engine({ clock: new ManualClock(), limits: { maxConnections: 2 } });
  await TestClient.connect(b, { clientId: "1" });
  await TestClient.connect(b, { clientId: "2" });
  const third = TestClient.open(b);
  await third.closedByBroker();
  assert.equal(b.stats.connectRefused, 1);
});

Deno.test("limits: a subscriber whose buffer passes the limit stops getting QoS 0, and publishing never waits for it", async () => {
  const b = new Engine({ clock: new ManualClock(), limits: { maxOutboundBuffer: 1024 } });
  const slow = await TestClient.connect(b, { clientId: "slow" });
  await slow.client.subscribe("f");
  // All 50 publishes land in one turn, before the subscriber's buffer is flushed.
  const published = Array.from({ length: 50 }, () => b.publish({ topic: "f", payload: new Uint8Array(100) }));
  await Promise.all(published);
  assert.ok(b.stats.dropped.slow_consumer >= 35, `${b.stats.dropped.slow_consumer} dropped`);
  let got = 0;
  while (await slow.client.next(100).then(() => true, () => false)) got++;
  assert.equal(got + b.stats.dropped.slow_consumer, 50);
});

Deno.test("limits: a message queued for an offline client counts its properties against max_queued_bytes", async () => {
  const b = new Engine({ clock: new ManualClock(), limits: { maxQueuedBytes: 1000 } });
  const sub = await TestClient.connect(b, {
    clientId: "away",
    protocolLevel: 5,
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
  });
  await sub.client.subscribe("q", 1);
  sub.client.send({ type: PacketType.DISCONNECT, reasonCode: 0 });
  await sub.client.closedByBroker();
  const pub = await TestClient.connect(b, { clientId: "pub", protocolLevel: 5 });
  // 10 bytes of payload each, and 300 bytes of properties (user property "k" = 293 × "v").
  const properties = { userProperties: [["k", "v".repeat(293)]] as [string, string][] };
  for (let i = 0; i < 4; i++) {
    pub.client.publish("q", "0123456789", { qos: 1, properties });
    await pub.client.expect(PacketType.PUBACK);
  }
  // Payloads alone (40 bytes) would fit 1000; with their properties only three messages do.
  assert.equal(b.stats.dropped.queue_full, 1);
});
