import assert from "node:assert/strict";
import { Engine } from "../../../src/broker/broker.ts";
import { ManualClock } from "../../../src/broker/clock.ts";
import { PacketType, Reason } from "../../../src/protocol/packet.ts";
import { TestClient, text } from "../../_helpers/test_client.ts";
import { memorySocketPair } from "../../_helpers/memory_socket.ts";

const broker = (options: ConstructorParameters<typeof Engine>[0] = {}) =>
  new Engine({ clock: new ManualClock(), ...options });

Deno.test("QoS 0: a message reaches a subscriber", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, { clientId: "sub" });
  await sub.client.subscribe("a/b");
  const pub = await TestClient.connect(b, { clientId: "pub" });
  pub.client.publish("a/b", "hello");
  const got = await sub.client.expect(PacketType.PUBLISH);
  assert.equal(got.topic, "a/b");
  assert.equal(text(got), "hello");
  assert.equal(got.qos, 0);
  assert.equal(got.dup, false);
});

Deno.test("QoS 1: the publisher gets PUBACK and the subscriber PUBLISH with a packet id", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, { clientId: "sub" });
  await sub.client.subscribe("q1", 1);
  const pub = await TestClient.connect(b, { clientId: "pub" });
  const id = pub.client.publish("q1", "m", { qos: 1 });
  const ack = await pub.client.expect(PacketType.PUBACK);
  assert.equal(ack.packetId, id);
  const got = await sub.client.expect(PacketType.PUBLISH);
  assert.equal(got.qos, 1);
  assert.ok(got.packetId! > 0);
  sub.client.send({ type: PacketType.PUBACK, packetId: got.packetId!, reasonCode: 0 });
});

Deno.test("QoS 2 inbound: PUBREC, then PUBCOMP after PUBREL; a duplicate PUBLISH is not routed twice [MQTT-4.3.3-10]", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, { clientId: "sub" });
  await sub.client.subscribe("q2", 2);
  const pub = await TestClient.connect(b, { clientId: "pub" });
  pub.client.publish("q2", "once", { qos: 2, packetId: 7 });
  assert.equal((await pub.client.expect(PacketType.PUBREC)).packetId, 7);
  pub.client.publish("q2", "once", { qos: 2, packetId: 7, dup: true });
  assert.equal((await pub.client.expect(PacketType.PUBREC)).packetId, 7);
  pub.client.send({ type: PacketType.PUBREL, packetId: 7, reasonCode: 0 });
  assert.equal((await pub.client.expect(PacketType.PUBCOMP)).packetId, 7);
  const got = await sub.client.expect(PacketType.PUBLISH);
  assert.equal(got.qos, 2);
  assert.ok(await sub.client.silentFor(30), "delivered exactly once");
});

Deno.test("QoS 2 outbound: PUBREC from the subscriber is answered with PUBREL, then PUBCOMP ends the flow [MQTT-4.3.3-3]", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, { clientId: "sub" });
  await sub.client.subscribe("q2", 2);
  await b.publish({ topic: "q2", payload: "x", qos: 2 });
  const got = await sub.client.expect(PacketType.PUBLISH);
  sub.client.send({ type: PacketType.PUBREC, packetId: got.packetId!, reasonCode: 0 });
  const rel = await sub.client.expect(PacketType.PUBREL);
  assert.equal(rel.packetId, got.packetId);
  sub.client.send({ type: PacketType.PUBCOMP, packetId: got.packetId!, reasonCode: 0 });
  sub.client.send({ type: PacketType.PINGREQ });
  await sub.client.expect(PacketType.PINGRESP);
  assert.equal(b.sessions.get("sub")!.inflight.size, 0);
});

Deno.test("the delivered QoS is the lower of the published and the granted QoS [MQTT-3.8.4-8]", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, { clientId: "sub" });
  await sub.client.subscribe("d", 1);
  const pub = await TestClient.connect(b, { clientId: "pub" });
  pub.client.publish("d", "x", { qos: 2 });
  assert.equal((await sub.client.expect(PacketType.PUBLISH)).qos, 1);
});

Deno.test("PUBACKs go out in the order the PUBLISH packets arrived [MQTT-4.6.0-2]", async () => {
  const b = broker();
  const pub = await TestClient.connect(b, { clientId: "pub" });
  const ids = [11, 12, 13, 14, 15];
  for (const id of ids) pub.client.publish("o", "x", { qos: 1, packetId: id });
  const acked: number[] = [];
  for (const _ of ids) acked.push((await pub.client.expect(PacketType.PUBACK)).packetId);
  assert.deepEqual(acked, ids);
});

Deno.test("retained: stored, replaced, and sent to a new subscriber with RETAIN set [MQTT-3.3.1-5]", async () => {
  const b = broker();
  const pub = await TestClient.connect(b, { clientId: "pub" });
  pub.client.publish("r/1", "old", { retain: true, qos: 1 });
  await pub.client.expect(PacketType.PUBACK);
  pub.client.publish("r/1", "new", { retain: true, qos: 1 });
  await pub.client.expect(PacketType.PUBACK);
  const sub = await TestClient.connect(b, { clientId: "sub" });
  await sub.client.subscribe("r/#", 1);
  const got = await sub.client.expect(PacketType.PUBLISH);
  assert.equal(text(got), "new");
  assert.equal(got.retain, true);
  assert.ok(await sub.client.silentFor(20));
});

Deno.test("retained: an empty retained payload deletes it and is not stored [MQTT-3.3.1-10] [MQTT-3.3.1-6] [MQTT-3.3.1-7]", async () => {
  const b = broker();
  const pub = await TestClient.connect(b, { clientId: "pub" });
  pub.client.publish("r/x", "v", { retain: true, qos: 1 });
  await pub.client.expect(PacketType.PUBACK);
  pub.client.publish("r/x", "", { retain: true, qos: 1 });
  await pub.client.expect(PacketType.PUBACK);
  assert.equal(b.retained.size, 0);
  const sub = await TestClient.connect(b, { clientId: "sub" });
  await sub.client.subscribe("r/x");
  assert.ok(await sub.client.silentFor(30));
});

Deno.test("a message forwarded to an established 3.1.1 subscription has RETAIN 0 [MQTT-3.3.1-12]", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, { clientId: "sub" });
  await sub.client.subscribe("live");
  const pub = await TestClient.connect(b, { clientId: "pub" });
  pub.client.publish("live", "x", { retain: true });
  assert.equal((await sub.client.expect(PacketType.PUBLISH)).retain, false);
});

Deno.test("v5 Retain As Published keeps the publisher's RETAIN flag [MQTT-3.3.1-13]", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, { clientId: "sub", protocolLevel: 5 });
  await sub.client.subscribe([{ filter: "rap", retainAsPublished: true }]);
  const pub = await TestClient.connect(b, { clientId: "pub" });
  pub.client.publish("rap", "x", { retain: true });
  assert.equal((await sub.client.expect(PacketType.PUBLISH)).retain, true);
});

Deno.test("v5 No Local: a client does not receive its own messages [MQTT-3.8.3-3]", async () => {
  const b = broker();
  const me = await TestClient.connect(b, { clientId: "me", protocolLevel: 5 });
  await me.client.subscribe([{ filter: "echo", noLocal: true }]);
  const other = await TestClient.connect(b, { clientId: "other", protocolLevel: 5 });
  await other.client.subscribe("echo");
  me.client.publish("echo", "x");
  await other.client.expect(PacketType.PUBLISH);
  assert.ok(await me.client.silentFor(30));
});

Deno.test("overlapping subscriptions deliver once at the highest QoS with every identifier [MQTT-3.3.4-2] [MQTT-3.3.4-3]", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, { clientId: "sub", protocolLevel: 5 });
  sub.client.send({
    type: PacketType.SUBSCRIBE,
    packetId: 1,
    subscriptions: [{ filter: "s/+", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    properties: { subscriptionIdentifiers: [3] },
  });
  await sub.client.expect(PacketType.SUBACK);
  sub.client.send({
    type: PacketType.SUBSCRIBE,
    packetId: 2,
    subscriptions: [{ filter: "s/#", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    properties: { subscriptionIdentifiers: [9] },
  });
  await sub.client.expect(PacketType.SUBACK);
  await b.publish({ topic: "s/x", payload: "one", qos: 1 });
  const got = await sub.client.expect(PacketType.PUBLISH);
  assert.equal(got.qos, 1);
  assert.deepEqual([...got.properties!.subscriptionIdentifiers!].sort((a, b) => a - b), [3, 9]);
  assert.ok(await sub.client.silentFor(30), "only one copy");
});

Deno.test("v5: more unacknowledged QoS 1 PUBLISH than Receive Maximum gets DISCONNECT 0x93 [MQTT-3.3.4-7]", async () => {
  const b = new Engine({
    clock: new ManualClock(),
    mqtt: { receiveMaximum: 2 },
    store: {
      durable: true,
      open: () => Promise.resolve(),
      load: () => Promise.resolve({ sessions: [], retained: [] }),
      // Messages for the persistent subscriber never become durable: their PUBACKs stay pending.
      commit: (m) => m.some((x) => x.kind === "putOutbound") ? new Promise(() => {}) : Promise.resolve(),
      close: () => Promise.resolve(),
    },
  });
  const pub = await TestClient.connect(b, {
    clientId: "flood",
    protocolLevel: 5,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
  });
  const sub = await TestClient.connect(b, {
    clientId: "s",
    protocolLevel: 5,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
  });
  await sub.client.subscribe("f", 1);
  for (let i = 1; i <= 3; i++) pub.client.publish("f", "x", { qos: 1, packetId: i });
  const packets = await pub.client.closedByBroker();
  const disconnect = packets.find((p) => p.type === PacketType.DISCONNECT) as { reasonCode: number };
  assert.equal(disconnect.reasonCode, Reason.ReceiveMaximumExceeded);
});

Deno.test("v5: the broker sends no more in-flight messages than the client's Receive Maximum [MQTT-3.3.4-9]", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, {
    clientId: "slow",
    protocolLevel: 5,
    properties: { receiveMaximum: 2 },
  });
  await sub.client.subscribe("w", 1);
  for (let i = 0; i < 5; i++) await b.publish({ topic: "w", payload: `${i}`, qos: 1 });
  const first = await sub.client.expect(PacketType.PUBLISH);
  await sub.client.expect(PacketType.PUBLISH);
  assert.ok(await sub.client.silentFor(30), "window of 2 is full");
  sub.client.send({ type: PacketType.PUBACK, packetId: first.packetId!, reasonCode: 0 });
  assert.equal(text(await sub.client.expect(PacketType.PUBLISH)), "2");
});

Deno.test("v5: a QoS above Maximum QoS is a protocol error, DISCONNECT 0x9B [MQTT-3.2.2-11]", async () => {
  const b = new Engine({ clock: new ManualClock(), mqtt: { maxQoS: 1 } });
  const pub = await TestClient.connect(b, { clientId: "p", protocolLevel: 5 });
  assert.equal(pub.connack.properties?.maximumQoS, 1);
  pub.client.publish("t", "x", { qos: 2 });
  const packets = await pub.client.closedByBroker();
  assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.QoSNotSupported);
});

Deno.test("v5: RETAIN when Retain Available is 0 is a protocol error, DISCONNECT 0x9A [MQTT-3.2.2-14]", async () => {
  const b = new Engine({ clock: new ManualClock(), mqtt: { retainAvailable: false } });
  const pub = await TestClient.connect(b, { clientId: "p", protocolLevel: 5 });
  assert.equal(pub.connack.properties?.retainAvailable, 0);
  pub.client.publish("t", "x", { retain: true });
  const packets = await pub.client.closedByBroker();
  assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.RetainNotSupported);
});

Deno.test("v5: the forwarded Message Expiry Interval is reduced by the time waited [MQTT-3.3.2-6]", async () => {
  const clock = new ManualClock();
  const b = new Engine({ clock });
  const first = await TestClient.connect(b, {
    clientId: "late",
    protocolLevel: 5,
    clean: false,
    properties: { sessionExpiryInterval: 300 },
  });
  await first.client.subscribe("exp", 1);
  first.client.disconnect();
  await first.client.closedByBroker();
  await b.publish({ topic: "exp", payload: "a", qos: 1, properties: { messageExpiryInterval: 60 } });
  await b.publish({ topic: "exp", payload: "b", qos: 1, properties: { messageExpiryInterval: 5 } });
  clock.advance(20_000);
  const again = await TestClient.connect(b, {
    clientId: "late",
    protocolLevel: 5,
    clean: false,
    properties: { sessionExpiryInterval: 300 },
  });
  const got = await again.client.expect(PacketType.PUBLISH);
  assert.equal(text(got), "a");
  assert.equal(got.properties?.messageExpiryInterval, 40);
  assert.ok(await again.client.silentFor(30), "the expired message is not delivered");
});

Deno.test("v5: a message larger than the client's Maximum Packet Size is not sent to it [MQTT-3.1.2-24] [MQTT-3.1.2-25]", async () => {
  const b = broker();
  const small = await TestClient.connect(b, {
    clientId: "small",
    protocolLevel: 5,
    properties: { maximumPacketSize: 64 },
  });
  await small.client.subscribe("big", 1);
  await b.publish({ topic: "big", payload: new Uint8Array(100), qos: 1 });
  await b.publish({ topic: "big", payload: "fits", qos: 1 });
  assert.equal(text(await small.client.expect(PacketType.PUBLISH)), "fits");
  assert.equal(b.stats.dropped.packet_too_large, 1);
});

Deno.test("v5: inbound topic aliases map an empty topic to the aliased one; alias 0 is an error [MQTT-3.3.2-8]", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, { clientId: "sub" });
  await sub.client.subscribe("long/topic/name");
  const pub = await TestClient.connect(b, { clientId: "pub", protocolLevel: 5 });
  pub.client.publish("long/topic/name", "1", { properties: { topicAlias: 1 } });
  pub.client.publish("", "2", { properties: { topicAlias: 1 } });
  assert.equal(text(await sub.client.expect(PacketType.PUBLISH)), "1");
  const second = await sub.client.expect(PacketType.PUBLISH);
  assert.equal(second.topic, "long/topic/name");
  assert.equal(text(second), "2");
  pub.client.publish("x", "3", { properties: { topicAlias: 0 } });
  const packets = await pub.client.closedByBroker();
  assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.TopicAliasInvalid);
});

Deno.test("v5: a topic alias above the broker's Topic Alias Maximum is an error [MQTT-3.3.2-9]", async () => {
  const b = new Engine({ clock: new ManualClock(), mqtt: { topicAliasMaximum: 2 } });
  const pub = await TestClient.connect(b, { clientId: "pub", protocolLevel: 5 });
  assert.equal(pub.connack.properties?.topicAliasMaximum, 2);
  pub.client.publish("t", "x", { properties: { topicAlias: 3 } });
  const packets = await pub.client.closedByBroker();
  assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.TopicAliasInvalid);
});

Deno.test("v5: outbound topic aliases are used when the client allows them, never above its maximum [MQTT-3.1.2-26]", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, {
    clientId: "sub",
    protocolLevel: 5,
    properties: { topicAliasMaximum: 2 },
  });
  await sub.client.subscribe("alias/#");
  for (const topic of ["alias/me", "alias/me", "alias/a", "alias/b", "alias/c", "alias/a"]) {
    await b.publish({ topic, payload: "x" });
  }
  const got = [];
  for (let i = 0; i < 6; i++) got.push(await sub.client.expect(PacketType.PUBLISH));
  assert.equal(got[0].topic, "alias/me");
  assert.equal(got[0].properties?.topicAlias, 1);
  assert.equal(got[1].topic, "");
  assert.equal(got[1].properties?.topicAlias, 1);
  for (const p of got) assert.ok(p.properties!.topicAlias! >= 1 && p.properties!.topicAlias! <= 2);
});

Deno.test("v5: a client without Topic Alias Maximum never gets a topic alias [MQTT-3.1.2-27]", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, { clientId: "sub", protocolLevel: 5 });
  await sub.client.subscribe("plain");
  await b.publish({ topic: "plain", payload: "1" });
  await b.publish({ topic: "plain", payload: "2" });
  for (let i = 0; i < 2; i++) {
    const p = await sub.client.expect(PacketType.PUBLISH);
    assert.equal(p.topic, "plain");
    assert.equal(p.properties?.topicAlias, undefined);
  }
});

Deno.test("v5: a PUBLISH to a topic nobody subscribes gets PUBACK 0x10 No matching subscribers", async () => {
  const b = broker();
  const pub = await TestClient.connect(b, { clientId: "pub", protocolLevel: 5 });
  pub.client.publish("nobody", "x", { qos: 1 });
  assert.equal((await pub.client.expect(PacketType.PUBACK)).reasonCode, Reason.NoMatchingSubscribers);
});

Deno.test("v5: a payload declared UTF-8 that is not gets PUBACK 0x99", async () => {
  const b = broker();
  const pub = await TestClient.connect(b, { clientId: "pub", protocolLevel: 5 });
  pub.client.publish("t", new Uint8Array([0xff, 0xfe]), {
    qos: 1,
    properties: { payloadFormatIndicator: 1 },
  });
  assert.equal((await pub.client.expect(PacketType.PUBACK)).reasonCode, Reason.PayloadFormatInvalid);
});

Deno.test("v5: publication properties reach the subscriber unaltered and in order [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20]", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, { clientId: "sub", protocolLevel: 5 });
  await sub.client.subscribe("rr");
  const pub = await TestClient.connect(b, { clientId: "pub", protocolLevel: 5 });
  const properties = {
    payloadFormatIndicator: 1,
    contentType: "text/plain",
    responseTopic: "reply/here",
    correlationData: new Uint8Array([1, 2, 3]),
    userProperties: [["a", "1"], ["b", "2"], ["a", "3"]] as [string, string][],
  };
  pub.client.publish("rr", "body", { properties });
  const got = await sub.client.expect(PacketType.PUBLISH);
  assert.equal(got.properties?.contentType, "text/plain");
  assert.equal(got.properties?.responseTopic, "reply/here");
  assert.deepEqual([...got.properties!.correlationData!], [1, 2, 3]);
  assert.deepEqual(got.properties?.userProperties, properties.userProperties);
  assert.equal(got.properties?.payloadFormatIndicator, 1);
});

Deno.test("mixed versions: a 3.1.1 subscriber receives a v5 publisher's message without properties", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, { clientId: "old" });
  await sub.client.subscribe("mix");
  const pub = await TestClient.connect(b, { clientId: "new", protocolLevel: 5 });
  pub.client.publish("mix", "hi", { properties: { userProperties: [["k", "v"]] } });
  const got = await sub.client.expect(PacketType.PUBLISH);
  assert.equal(text(got), "hi");
  assert.equal(got.properties, undefined);
});

Deno.test("clients may not publish to $ topics", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, { clientId: "sub" });
  await sub.client.subscribe("$SYS/#");
  const pub = await TestClient.connect(b, { clientId: "pub", protocolLevel: 5 });
  pub.client.publish("$SYS/fake", "x", { qos: 1 });
  assert.equal((await pub.client.expect(PacketType.PUBACK)).reasonCode, Reason.NotAuthorized);
  assert.ok(await sub.client.silentFor(30));
});

Deno.test("v5: PUBREL for an unknown packet id is answered with PUBCOMP 0x92 (5.0) [MQTT-3.7.2-1]", async () => {
  const b = broker();
  const pub = await TestClient.connect(b, { clientId: "pub", protocolLevel: 5 });
  pub.client.send({ type: PacketType.PUBREL, packetId: 99, reasonCode: 0 });
  const comp = await pub.client.expect(PacketType.PUBCOMP);
  assert.equal(comp.packetId, 99);
  assert.equal(comp.reasonCode, Reason.PacketIdentifierNotFound);
});

Deno.test("durable mode acknowledges only after the commit; relaxed mode acknowledges at once", async () => {
  const stuck = {
    durable: true,
    open: () => Promise.resolve(),
    load: () => Promise.resolve({ sessions: [], retained: [] }),
    commit: (m: { kind: string }[]) =>
      m.some((x) => x.kind === "putOutbound") ? new Promise<void>(() => {}) : Promise.resolve(),
    close: () => Promise.resolve(),
  };
  for (const durability of ["durable", "relaxed"] as const) {
    const b = new Engine({ clock: new ManualClock(), store: stuck, durability });
    const sub = await TestClient.connect(b, { clientId: "s", clean: false });
    await sub.client.subscribe("d", 1);
    const pub = await TestClient.connect(b, { clientId: "p" });
    pub.client.publish("d", "x", { qos: 1 });
    if (durability === "durable") assert.ok(await pub.client.silentFor(50), "no PUBACK before the commit");
    else await pub.client.expect(PacketType.PUBACK);
  }
});

Deno.test("v5: a refused PUBLISH's ack carries a Reason String only when problem information is wanted and it fits [MQTT-3.1.2-29] [MQTT-3.4.2-2] [MQTT-3.4.2-3]", async () => {
  const b = broker();
  const cases = [
    { properties: {}, expectReason: true },
    { properties: { requestProblemInformation: 0 }, expectReason: false },
    // Room for the CONNACK (13 bytes: Topic Alias Maximum, Maximum Packet Size), not for a Reason String.
    { properties: { maximumPacketSize: 16 }, expectReason: false },
  ];
  for (const [i, { properties, expectReason }] of cases.entries()) {
    const pub = await TestClient.connect(b, { clientId: `p${i}`, protocolLevel: 5, properties });
    pub.client.publish("$SYS/x", "no", { qos: 1 });
    const ack = await pub.client.expect(PacketType.PUBACK);
    assert.equal(ack.reasonCode, Reason.NotAuthorized);
    assert.equal(ack.properties?.reasonString !== undefined, expectReason, JSON.stringify(properties));
  }
});

Deno.test("v5: a PUBLISH from a client with a Subscription Identifier is a protocol error [MQTT-3.3.4-6]", async () => {
  const b = broker();
  const pub = await TestClient.connect(b, { clientId: "p", protocolLevel: 5 });
  pub.client.publish("t", "x", { properties: { subscriptionIdentifiers: [3] } });
  const [disconnect] = await pub.client.closedByBroker() as { reasonCode: number }[];
  assert.equal(disconnect.reasonCode, Reason.ProtocolError);
});

Deno.test("v5: a successful PUBACK is the four bytes with the reason code and properties omitted [MQTT-3.4.2-1]", async () => {
  const b = broker();
  const sub = await TestClient.connect(b, { clientId: "sub" });
  await sub.client.subscribe("t", 1); // a subscriber, so that the PUBACK is a plain success
  const { socket, client } = memorySocketPair();
  b.handle(socket);
  // CONNECT v5, clean start, keep-alive 0, no properties, client id "p".
  client.write(Uint8Array.of(0x10, 14, 0, 4, 0x4d, 0x51, 0x54, 0x54, 5, 0x02, 0, 0, 0, 0, 1, 0x70));
  // PUBLISH QoS 1 to "t", packet id 7, no properties, payload "x".
  client.write(Uint8Array.of(0x32, 7, 0, 1, 0x74, 0, 7, 0, 0x78));
  const received: number[] = [];
  while (!received.join(",").includes("64,2,0,7")) {
    const chunk = await client.read();
    assert.ok(chunk !== null, `closed before the PUBACK; got ${received}`);
    received.push(...chunk);
  }
  const connackLength = 2 + received[1];
  assert.deepEqual(received.slice(connackLength), [0x40, 0x02, 0x00, 0x07]);
  client.close();
  await b.close();
});

/** `n` user properties named k0, k1, … */
const userProperties = (n: number) => Array.from({ length: n }, (_, i) => [`k${i}`, "v"] as [string, string]);

Deno.test("v5: a PUBLISH over the user property limit is refused with PUBACK/PUBREC 0x97; the connection goes on", async () => {
  const b = broker({ limits: { maxUserProperties: 2 } });
  const sub = await TestClient.connect(b, { clientId: "sub", protocolLevel: 5 });
  await sub.client.subscribe("t", 2);
  const pub = await TestClient.connect(b, { clientId: "pub", protocolLevel: 5 });
  for (const qos of [1, 2] as const) {
    const id = pub.client.publish("t", "bomb", { qos, properties: { userProperties: userProperties(3) } });
    const ack = await pub.client.expect(qos === 1 ? PacketType.PUBACK : PacketType.PUBREC);
    assert.equal(ack.packetId, id);
    assert.equal(ack.reasonCode, Reason.QuotaExceeded);
  }
  pub.client.publish("t", "bomb", { qos: 0, properties: { userProperties: userProperties(3) } });
  // At the limit: delivered, with its properties in order.
  pub.client.publish("t", "ok", { qos: 1, properties: { userProperties: userProperties(2) } });
  assert.equal((await pub.client.expect(PacketType.PUBACK)).reasonCode, Reason.Success);
  const got = await sub.client.expect(PacketType.PUBLISH);
  assert.equal(text(got), "ok", "none of the refused messages was routed");
  assert.deepEqual(got.properties?.userProperties, userProperties(2));
  assert.equal(b.stats.dropped.quota_exceeded, 3);
});

Deno.test("v5: a PUBLISH over the property byte limit is refused with 0x97 too", async () => {
  const b = broker({ limits: { maxPropertyBytes: 100 } });
  const pub = await TestClient.connect(b, { clientId: "pub", protocolLevel: 5 });
  pub.client.publish("t", "x", { qos: 1, properties: { correlationData: new Uint8Array(98) } });
  assert.equal((await pub.client.expect(PacketType.PUBACK)).reasonCode, Reason.QuotaExceeded);
  pub.client.publish("t", "x", { qos: 1, properties: { correlationData: new Uint8Array(97) } });
  assert.equal((await pub.client.expect(PacketType.PUBACK)).reasonCode, Reason.NoMatchingSubscribers);
});

Deno.test("v5: other packets over the property limits end the connection with DISCONNECT 0x97", async () => {
  const b = broker({ limits: { maxUserProperties: 2 } });
  const { client } = await TestClient.connect(b, { clientId: "c", protocolLevel: 5 });
  client.send({
    type: PacketType.SUBSCRIBE,
    packetId: 1,
    subscriptions: [{ filter: "t", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    properties: { userProperties: userProperties(3) },
  });
  const [disconnect] = await client.closedByBroker() as { type: number; reasonCode: number }[];
  assert.equal(disconnect.type, PacketType.DISCONNECT);
  assert.equal(disconnect.reasonCode, Reason.QuotaExceeded);
});

Deno.test("v5: subscribers with subscription identifiers get the publisher's properties once encoded, each with its own identifier", async () => {
  const b = broker();
  const subs = [];
  for (let i = 1; i <= 3; i++) {
    const s = await TestClient.connect(b, { clientId: `s${i}`, protocolLevel: 5 });
    await s.client.subscribe("t", 1, { subscriptionIdentifiers: [i] });
    subs.push(s.client);
  }
  const pub = await TestClient.connect(b, { clientId: "pub", protocolLevel: 5 });
  const properties = {
    userProperties: [["z", "1"], ["a", "2"], ["z", "3"]] as [string, string][],
    contentType: "text/ü",
    correlationData: new Uint8Array([1, 2]),
    messageExpiryInterval: 60,
  };
  pub.client.publish("t", "m", { qos: 1, properties });
  for (const [i, s] of subs.entries()) {
    const got = await s.expect(PacketType.PUBLISH);
    assert.deepEqual(got.properties, { ...properties, subscriptionIdentifiers: [i + 1] });
  }
});

Deno.test("v5: PUBACK 0x10 only when no subscription matched, not when the matching offline session could not take the message", async () => {
  const b = broker({ limits: { maxQueuedMessages: 1 } });
  const sub = await TestClient.connect(b, {
    clientId: "offline",
    protocolLevel: 5,
    clean: true,
    properties: { sessionExpiryInterval: 60 },
  });
  await sub.client.subscribe([{ filter: "q0", qos: 0 }, { filter: "full", qos: 1 }]);
  sub.client.disconnect();
  const pub = await TestClient.connect(b, { clientId: "pub", protocolLevel: 5 });
  // Downgraded to the subscription's QoS 0: an offline session does not queue it.
  pub.client.publish("q0", "dropped", { qos: 1 });
  assert.equal((await pub.client.expect(PacketType.PUBACK)).reasonCode, Reason.Success);
  pub.client.publish("full", "queued", { qos: 1 });
  assert.equal((await pub.client.expect(PacketType.PUBACK)).reasonCode, Reason.Success);
  pub.client.publish("full", "over the queue limit", { qos: 1 });
  assert.equal((await pub.client.expect(PacketType.PUBACK)).reasonCode, Reason.Success);
});
