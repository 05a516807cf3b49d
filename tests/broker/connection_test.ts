import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { ConnackReturnCode, PacketType, Reason } from "../../src/protocol/packet.ts";
import { TestClient } from "../_helpers/test_client.ts";

function newBroker(clock = new ManualClock()) {
  return new Engine({ clock });
}

Deno.test("a first packet other than CONNECT closes the connection [MQTT-3.1.0-1]", async () => {
  const broker = newBroker();
  const client = TestClient.open(broker);
  client.send({ type: PacketType.PINGREQ });
  const leftovers = await client.closedByBroker();
  assert.deepEqual(leftovers, []);
});

Deno.test("a second CONNECT is a protocol error that closes the connection [MQTT-3.1.0-2]", async () => {
  const broker = newBroker();
  const { client } = await TestClient.connect(broker, { clientId: "twice", protocolLevel: 5 });
  client.send({
    type: PacketType.CONNECT,
    protocolName: "MQTT",
    protocolLevel: 5,
    clean: true,
    keepAlive: 0,
    clientId: "twice",
  });
  const packets = await client.closedByBroker();
  assert.equal(packets.length, 1);
  assert.equal(packets[0].type, PacketType.DISCONNECT);
  assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.ProtocolError);
});

Deno.test("an unsupported protocol level gets CONNACK 0x01 and the connection closes [MQTT-3.1.2-2]", async () => {
  const broker = newBroker();
  const client = TestClient.open(broker);
  // CONNECT, remaining length 12: "MQTT", level 9, flags 0x02, keep-alive 0, empty client id.
  client.sendRaw([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x09, 0x02, 0x00, 0x00, 0x00, 0x00]);
  const packets = await client.closedByBroker();
  assert.equal(packets[0].type, PacketType.CONNACK);
  assert.equal(
    (packets[0] as { reasonCode: number }).reasonCode,
    ConnackReturnCode.UnacceptableProtocolVersion,
  );
});

Deno.test("3.1.1: an empty client id with a persistent session is rejected with 0x02 [MQTT-3.1.3-8]", async () => {
  const broker = newBroker();
  const { client, connack } = await TestClient.connect(broker, { clientId: "", clean: false });
  assert.equal(connack.reasonCode, ConnackReturnCode.IdentifierRejected);
  await client.closedByBroker();
});

Deno.test("an empty client id with a clean session gets a unique assigned id [MQTT-3.1.3-6]", async () => {
  const broker = newBroker();
  const { connack } = await TestClient.connect(broker, { clientId: "", clean: true });
  assert.equal(connack.reasonCode, 0);
  assert.equal(broker.sessions.size, 1);
  const [id] = broker.sessions.keys();
  assert.match(id, /^auto-/);
});

Deno.test("v5: the assigned client identifier is returned in CONNACK [MQTT-3.2.2-16]", async () => {
  const broker = newBroker();
  const { connack } = await TestClient.connect(broker, { clientId: "", protocolLevel: 5 });
  const assigned = connack.properties?.assignedClientIdentifier;
  assert.ok(assigned && broker.sessions.has(assigned));
});

Deno.test("a client silent for 1.5 × keep-alive is disconnected, v5 with 0x8D [MQTT-3.1.2-24]", async () => {
  const clock = new ManualClock();
  const broker = newBroker(clock);
  const { client } = await TestClient.connect(broker, {
    clientId: "sleepy",
    protocolLevel: 5,
    keepAlive: 10,
  });
  clock.advance(14_000);
  assert.ok(await client.silentFor(20), "still connected before 15 s");
  clock.advance(1_000);
  const packets = await client.closedByBroker();
  assert.equal(packets[0].type, PacketType.DISCONNECT);
  assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.KeepAliveTimeout);
});

Deno.test("activity resets the keep-alive timer", async () => {
  const clock = new ManualClock();
  const broker = newBroker(clock);
  const { client } = await TestClient.connect(broker, { clientId: "active", keepAlive: 10 });
  for (let i = 0; i < 4; i++) {
    clock.advance(10_000);
    client.send({ type: PacketType.PINGREQ });
    await client.expect(PacketType.PINGRESP);
  }
  assert.equal(client.isClosed, false);
});

Deno.test("PINGREQ is answered with PINGRESP [MQTT-3.12.4-1]", async () => {
  const broker = newBroker();
  const { client } = await TestClient.connect(broker, { clientId: "pinger" });
  client.send({ type: PacketType.PINGREQ });
  await client.expect(PacketType.PINGRESP);
});

Deno.test("a socket that never sends CONNECT is closed after the connect timeout", async () => {
  const clock = new ManualClock();
  const broker = new Engine({ clock, limits: { connectTimeoutMs: 5000 } });
  const client = TestClient.open(broker);
  clock.advance(5000);
  await client.closedByBroker();
});

Deno.test("a second connection with the same client id takes the session over, v5 with 0x8E [MQTT-3.1.4-3]", async () => {
  const broker = newBroker();
  const first = await TestClient.connect(broker, { clientId: "same", protocolLevel: 5 });
  const second = await TestClient.connect(broker, { clientId: "same", protocolLevel: 5 });
  assert.equal(second.connack.reasonCode, 0);
  const packets = await first.client.closedByBroker();
  assert.equal(packets[0].type, PacketType.DISCONNECT);
  assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.SessionTakenOver);
  second.client.send({ type: PacketType.PINGREQ });
  await second.client.expect(PacketType.PINGRESP);
});

Deno.test("session present is 0 for a clean start and 1 when a stored session resumes [MQTT-3.2.2-2] [MQTT-3.2.2-3]", async () => {
  const broker = newBroker();
  const first = await TestClient.connect(broker, { clientId: "keeper", clean: false });
  assert.equal(first.connack.sessionPresent, false);
  first.client.disconnect();
  await first.client.closedByBroker();
  const again = await TestClient.connect(broker, { clientId: "keeper", clean: false });
  assert.equal(again.connack.sessionPresent, true);
});

Deno.test("clean start discards the existing session and its subscriptions [MQTT-3.1.2-4]", async () => {
  const broker = newBroker();
  const first = await TestClient.connect(broker, { clientId: "c1", clean: false });
  await first.client.subscribe("a/b", 1);
  first.client.disconnect();
  await first.client.closedByBroker();
  const again = await TestClient.connect(broker, { clientId: "c1", clean: true });
  assert.equal(again.connack.sessionPresent, false);
  assert.equal(broker.tree.size, 0);
});

Deno.test("v5: a keep-alive above the maximum is replaced by Server Keep Alive in CONNACK [MQTT-3.2.2-21]", async () => {
  const broker = new Engine({ clock: new ManualClock(), mqtt: { maxKeepAlive: 60 } });
  const { connack } = await TestClient.connect(broker, { clientId: "ka", protocolLevel: 5, keepAlive: 600 });
  assert.equal(connack.properties?.serverKeepAlive, 60);
});

Deno.test("v5: a malformed packet gets DISCONNECT 0x81 and the connection closes [MQTT-4.13.1-1]", async () => {
  const broker = newBroker();
  const { client } = await TestClient.connect(broker, { clientId: "bad", protocolLevel: 5 });
  // SUBSCRIBE with flags 0000 instead of 0010.
  client.sendRaw([0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61]);
  const packets = await client.closedByBroker();
  assert.equal(packets[0].type, PacketType.DISCONNECT);
  assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.MalformedPacket);
});

Deno.test("a malformed packet closes only that connection; others keep working", async () => {
  const broker = newBroker();
  const good = await TestClient.connect(broker, { clientId: "good" });
  const bad = await TestClient.connect(broker, { clientId: "bad" });
  bad.client.sendRaw([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]); // remaining length with a 5th byte
  await bad.client.closedByBroker();
  good.client.send({ type: PacketType.PINGREQ });
  await good.client.expect(PacketType.PINGRESP);
});

Deno.test("a refused CONNECT gets a CONNACK with the failure code and then the connection closes [MQTT-3.2.2-7]", async () => {
  const broker = new Engine({
    clock: new ManualClock(),
    authenticator: { authenticate: () => Promise.resolve({ ok: false, reason: "bad_credentials" }) },
  });
  const { client, connack } = await TestClient.connect(broker, {
    clientId: "x",
    protocolLevel: 5,
    username: "u",
  });
  assert.equal(connack.reasonCode, Reason.BadUserNameOrPassword);
  assert.equal(connack.sessionPresent, false);
  await client.closedByBroker();
  const v4 = await TestClient.connect(broker, { clientId: "y", username: "u" });
  assert.equal(v4.connack.reasonCode, ConnackReturnCode.BadUserNameOrPassword);
});

Deno.test("v5: a will QoS above Maximum QoS is refused with 0x9B [MQTT-3.2.2-12]", async () => {
  const broker = new Engine({ clock: new ManualClock(), mqtt: { maxQoS: 1 } });
  const will = { topic: "w", payload: new Uint8Array([1]), qos: 2 as const, retain: false };
  const { connack } = await TestClient.connect(broker, { clientId: "w", protocolLevel: 5, will });
  assert.equal(connack.reasonCode, Reason.QoSNotSupported);
});

Deno.test("v5: a retained will when retain is unavailable is refused with 0x9A [MQTT-3.2.2-13]", async () => {
  const broker = new Engine({ clock: new ManualClock(), mqtt: { retainAvailable: false } });
  const will = { topic: "w", payload: new Uint8Array([1]), qos: 0 as const, retain: true };
  const { connack } = await TestClient.connect(broker, { clientId: "w", protocolLevel: 5, will });
  assert.equal(connack.reasonCode, Reason.RetainNotSupported);
});

Deno.test("v5: a Reason String that would exceed the client's Maximum Packet Size is left out of CONNACK and DISCONNECT [MQTT-3.2.2-19] [MQTT-3.2.2-20] [MQTT-3.14.2-3] [MQTT-3.14.2-4]", async () => {
  const broker = new Engine({ clock: new ManualClock(), mqtt: { maxQoS: 1 } });
  const will = { topic: "w", payload: new Uint8Array([1]), qos: 2 as const, retain: false };
  const small = { maximumPacketSize: 16 };
  const refused = await TestClient.connect(broker, {
    clientId: "w",
    protocolLevel: 5,
    will,
    properties: small,
  });
  assert.equal(refused.connack.reasonCode, Reason.QoSNotSupported);
  assert.equal(refused.connack.properties, undefined);
  const roomy = await TestClient.connect(broker, { clientId: "r", protocolLevel: 5, will });
  assert.equal(typeof roomy.connack.properties?.reasonString, "string");

  const { client } = await TestClient.connect(broker, { clientId: "d", protocolLevel: 5, properties: small });
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
  const [disconnect] = await client.closedByBroker() as {
    type: number;
    reasonCode: number;
    properties?: object;
  }[];
  assert.equal(disconnect.type, PacketType.DISCONNECT);
  assert.equal(disconnect.reasonCode, Reason.ProtocolError);
  assert.equal(disconnect.properties, undefined);
});

Deno.test("v5: Response Information is in CONNACK only when the client requests it [MQTT-3.1.2-28]", async () => {
  const broker = newBroker();
  const asked = await TestClient.connect(broker, {
    clientId: "asks",
    protocolLevel: 5,
    properties: { requestResponseInformation: 1 },
  });
  assert.equal(asked.connack.properties?.responseInformation, "response/asks");
  const silent = await TestClient.connect(broker, { clientId: "quiet", protocolLevel: 5 });
  assert.equal(silent.connack.properties?.responseInformation, undefined);
});

Deno.test("v5: a CONNECT over the property limits is refused with CONNACK 0x97, then the close [MQTT-3.2.2-7]", async () => {
  const broker = new Engine({ clock: new ManualClock(), limits: { maxUserProperties: 1 } });
  const client = TestClient.open(broker, 5);
  client.send({
    type: PacketType.CONNECT,
    protocolName: "MQTT",
    protocolLevel: 5,
    clean: true,
    keepAlive: 0,
    clientId: "c",
    properties: { userProperties: [["a", "1"], ["b", "2"]] },
  });
  const packets = await client.closedByBroker();
  assert.deepEqual(packets, [{
    type: PacketType.CONNACK,
    sessionPresent: false,
    reasonCode: Reason.QuotaExceeded,
  }]);
});

Deno.test("a first packet larger than limits.maxConnectSize is refused before it is decoded, on any socket", async () => {
  const broker = new Engine({ clock: new ManualClock(), limits: { maxConnectSize: 100 } });
  const big = await TestClient.connect(broker, { clientId: "x".repeat(200), timeoutMs: 200 }).catch((e) => e);
  assert.match(String(big), /closed while waiting/);
  const { connack } = await TestClient.connect(broker, { clientId: "x".repeat(50) });
  assert.equal(connack.reasonCode, 0);
});
