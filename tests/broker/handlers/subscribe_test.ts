import assert from "node:assert/strict";
import { Engine } from "../../../src/broker/broker.ts";
import { ManualClock } from "../../../src/broker/clock.ts";
import { PacketType, Reason, SubackFailureV4 } from "../../../src/protocol/packet.ts";
import { TestClient, text } from "../../_helpers/test_client.ts";

const broker = (options: ConstructorParameters<typeof Engine>[0] = {}) =>
  new Engine({ clock: new ManualClock(), ...options });

Deno.test("SUBACK answers SUBSCRIBE with its packet id and one code per filter, in order [MQTT-3.8.4-1] [MQTT-3.8.4-6]", async () => {
  const b = broker();
  const { client } = await TestClient.connect(b, { clientId: "c", protocolLevel: 5 });
  client.send({
    type: PacketType.SUBSCRIBE,
    packetId: 42,
    subscriptions: [
      { filter: "a", qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      { filter: "b/#/c", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      { filter: "c/+", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
    ],
  });
  const suback = await client.expect(PacketType.SUBACK);
  assert.equal(suback.packetId, 42);
  assert.deepEqual(suback.reasonCodes, [2, Reason.TopicFilterInvalid, 0]);
});

Deno.test("3.1.1: a failed subscription is reported with 0x80 (3.1.1) [MQTT-3.9.3-2]", async () => {
  const b = broker();
  const { client } = await TestClient.connect(b, { clientId: "c" });
  const suback = await client.subscribe("bad/#/filter", 1);
  assert.deepEqual(suback.reasonCodes, [SubackFailureV4]);
});

Deno.test("the granted QoS is capped at the broker's Maximum QoS", async () => {
  const b = broker({ mqtt: { maxQoS: 1 } });
  const { client } = await TestClient.connect(b, { clientId: "c" });
  assert.deepEqual((await client.subscribe("x", 2)).reasonCodes, [1]);
});

Deno.test("subscribing again with the same filter replaces the subscription [MQTT-3.8.4-3]", async () => {
  const b = broker();
  const { client } = await TestClient.connect(b, { clientId: "c" });
  await client.subscribe("same", 0);
  await client.subscribe("same", 1);
  assert.equal(b.tree.size, 1);
  await b.publish({ topic: "same", payload: "x", qos: 1 });
  assert.equal((await client.expect(PacketType.PUBLISH)).qos, 1);
  assert.ok(await client.silentFor(20), "delivered once");
});

Deno.test("retain handling 0 sends retained messages on every subscribe [MQTT-3.3.1-9]", async () => {
  const b = broker();
  await b.publish({ topic: "rh/0", payload: "r", retain: true });
  const { client } = await TestClient.connect(b, { clientId: "c", protocolLevel: 5 });
  await client.subscribe([{ filter: "rh/0", retainHandling: 0 }]);
  assert.equal(text(await client.expect(PacketType.PUBLISH)), "r");
  await client.subscribe([{ filter: "rh/0", retainHandling: 0 }]);
  assert.equal(text(await client.expect(PacketType.PUBLISH)), "r");
});

Deno.test("retain handling 1 sends retained messages only for a new subscription [MQTT-3.3.1-10]", async () => {
  const b = broker();
  await b.publish({ topic: "rh/1", payload: "r", retain: true });
  const { client } = await TestClient.connect(b, { clientId: "c", protocolLevel: 5 });
  await client.subscribe([{ filter: "rh/1", retainHandling: 1 }]);
  assert.equal(text(await client.expect(PacketType.PUBLISH)), "r");
  await client.subscribe([{ filter: "rh/1", retainHandling: 1 }]);
  assert.ok(await client.silentFor(30));
});

Deno.test("retain handling 2 never sends retained messages at subscribe [MQTT-3.3.1-11]", async () => {
  const b = broker();
  await b.publish({ topic: "rh/2", payload: "r", retain: true });
  const { client } = await TestClient.connect(b, { clientId: "c", protocolLevel: 5 });
  await client.subscribe([{ filter: "rh/2", retainHandling: 2 }]);
  assert.ok(await client.silentFor(30));
});

Deno.test("retained messages arrive with RETAIN set, after the SUBACK [MQTT-3.3.1-8]", async () => {
  const b = broker();
  await b.publish({ topic: "order/r", payload: "r", retain: true, qos: 1 });
  const { client } = await TestClient.connect(b, { clientId: "c" });
  client.send({
    type: PacketType.SUBSCRIBE,
    packetId: 5,
    subscriptions: [{
      filter: "order/#",
      qos: 1,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
    }],
  });
  await client.expect(PacketType.SUBACK);
  const got = await client.expect(PacketType.PUBLISH);
  assert.equal(got.retain, true);
  assert.equal(got.qos, 1);
});

Deno.test("shared subscriptions: each message goes to one member of the group", async () => {
  const b = broker();
  const one = await TestClient.connect(b, { clientId: "one", protocolLevel: 5 });
  const two = await TestClient.connect(b, { clientId: "two", protocolLevel: 5 });
  await one.client.subscribe("$share/g/jobs/+", 0);
  await two.client.subscribe("$share/g/jobs/+", 0);
  for (let i = 0; i < 4; i++) await b.publish({ topic: "jobs/x", payload: `${i}` });
  const got: string[] = [];
  for (let i = 0; i < 2; i++) got.push(text(await one.client.expect(PacketType.PUBLISH)));
  for (let i = 0; i < 2; i++) got.push(text(await two.client.expect(PacketType.PUBLISH)));
  assert.deepEqual(got.sort(), ["0", "1", "2", "3"]);
});

Deno.test("shared subscriptions get no retained messages at subscribe", async () => {
  const b = broker();
  await b.publish({ topic: "jobs/r", payload: "r", retain: true });
  const { client } = await TestClient.connect(b, { clientId: "c", protocolLevel: 5 });
  await client.subscribe("$share/g/jobs/#");
  assert.ok(await client.silentFor(30));
});

Deno.test("No Local on a shared subscription is a protocol error [MQTT-3.8.3-4]", async () => {
  const b = broker();
  const { client } = await TestClient.connect(b, { clientId: "c", protocolLevel: 5 });
  client.send({
    type: PacketType.SUBSCRIBE,
    packetId: 1,
    subscriptions: [{
      filter: "$share/g/t",
      qos: 0,
      noLocal: true,
      retainAsPublished: false,
      retainHandling: 0,
    }],
  });
  const packets = await client.closedByBroker();
  assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.ProtocolError);
});

Deno.test("a subscription over the per-client limit is refused with 0x97 Quota exceeded", async () => {
  const b = broker({ limits: { maxSubscriptions: 1 } });
  const { client } = await TestClient.connect(b, { clientId: "c", protocolLevel: 5 });
  await client.subscribe("one");
  assert.deepEqual((await client.subscribe("two")).reasonCodes, [Reason.QuotaExceeded]);
});

Deno.test("a denied subscription gets 0x87 in v5", async () => {
  const b = broker({
    authorizer: { authorize: (_c, access, topic) => !(access === "read" && topic.startsWith("secret")) },
  });
  const { client } = await TestClient.connect(b, { clientId: "c", protocolLevel: 5 });
  assert.deepEqual((await client.subscribe("secret/#")).reasonCodes, [Reason.NotAuthorized]);
});

Deno.test("UNSUBSCRIBE removes the subscription and UNSUBACK answers with the packet id [MQTT-3.10.4-4]", async () => {
  const b = broker();
  const { client } = await TestClient.connect(b, { clientId: "c", protocolLevel: 5 });
  await client.subscribe("u/1");
  client.send({ type: PacketType.UNSUBSCRIBE, packetId: 77, filters: ["u/1", "u/none"] });
  const unsuback = await client.expect(PacketType.UNSUBACK);
  assert.equal(unsuback.packetId, 77);
  assert.deepEqual(unsuback.reasonCodes, [Reason.Success, Reason.NoSubscriptionExisted]);
  await b.publish({ topic: "u/1", payload: "x" });
  assert.ok(await client.silentFor(30));
});

Deno.test("v5: subscription identifiers are rejected when not advertised", async () => {
  const b = broker({ mqtt: { subscriptionIdentifiers: false } });
  const { client, connack } = await TestClient.connect(b, { clientId: "c", protocolLevel: 5 });
  assert.equal(connack.properties?.subscriptionIdentifiersAvailable, 0);
  client.send({
    type: PacketType.SUBSCRIBE,
    packetId: 1,
    subscriptions: [{ filter: "t", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    properties: { subscriptionIdentifiers: [5] },
  });
  const packets = await client.closedByBroker();
  assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.SubscriptionIdentifiersNotSupported);
});

Deno.test("a 3.1.1 bridge (bridge bit set) gets its own messages neither back nor with RETAIN cleared", async () => {
  const b = broker();
  const { client: bridge } = await TestClient.connect(b, { clientId: "bridge", bridge: true });
  const { client: other } = await TestClient.connect(b, { clientId: "other" });
  await bridge.subscribe("br/#", 0);
  bridge.publish("br/own", "mine", { retain: true });
  assert.ok(await bridge.silentFor(50), "the bridge got its own message back");
  other.publish("br/theirs", "kept", { retain: true });
  const got = await bridge.expect(PacketType.PUBLISH);
  assert.deepEqual([got.topic, text(got), got.retain], ["br/theirs", "kept", true]);
});

Deno.test("a 3.1.1 client without the bridge bit gets its own messages back, RETAIN cleared", async () => {
  const b = broker();
  const { client } = await TestClient.connect(b, { clientId: "plain" });
  await client.subscribe("pl/#", 0);
  client.publish("pl/own", "mine", { retain: true });
  const got = await client.expect(PacketType.PUBLISH);
  assert.deepEqual([got.topic, got.retain], ["pl/own", false]);
});
