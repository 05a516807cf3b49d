import assert from "node:assert/strict";
import { ConnectRefused, MqttClient } from "../../src/bridge/mqtt_client.ts";
import { ConnackReturnCode, PacketType, type PublishPacket } from "../../src/protocol/packet.ts";
import { ScriptedServer } from "../_helpers/scripted_server.ts";

const encoder = new TextEncoder();

/** Connects a client to a scripted server that answers CONNACK with `properties`. */
async function connected(
  options: {
    level?: 4 | 5;
    properties?: Record<string, number>;
    onMessage?: (m: PublishPacket) => Promise<void>;
  } = {},
) {
  const server = new ScriptedServer(options.level ?? 5);
  const connecting = MqttClient.connect(server.socket, {
    protocolName: "MQTT",
    protocolLevel: options.level ?? 5,
    clean: true,
    keepAlive: 0,
    clientId: "c",
  }, { onMessage: options.onMessage ?? (() => {}), maxInflight: 10 });
  await server.expect(PacketType.CONNECT);
  server.send({
    type: PacketType.CONNACK,
    sessionPresent: false,
    reasonCode: 0,
    properties: options.properties,
  });
  const { client } = await connecting;
  return { server, client };
}

function message(n: number, qos: 0 | 1 | 2 = 1) {
  return { topic: `t/${n}`, payload: encoder.encode(`${n}`), qos, retain: false };
}

Deno.test("a refusing CONNACK rejects connect with its code and closes the connection", async () => {
  const server = new ScriptedServer(4);
  const connecting = MqttClient.connect(server.socket, {
    protocolName: "MQTT",
    protocolLevel: 4,
    bridge: true,
    clean: true,
    keepAlive: 0,
    clientId: "c",
  }, { onMessage: () => {} });
  const connect = await server.expect(PacketType.CONNECT);
  assert.equal(connect.bridge, true);
  server.send({
    type: PacketType.CONNACK,
    sessionPresent: false,
    reasonCode: ConnackReturnCode.UnacceptableProtocolVersion,
  });
  await assert.rejects(connecting, (err) => err instanceof ConnectRefused && err.reasonCode === 1);
});

Deno.test("no more unacknowledged QoS 1 PUBLISH than the server's Receive Maximum [MQTT-3.3.4-7]", async () => {
  const { server, client } = await connected({ properties: { receiveMaximum: 2 } });
  const acks = [1, 2, 3].map((n) => client.publish(message(n)));
  const first = await server.expect(PacketType.PUBLISH);
  const second = await server.expect(PacketType.PUBLISH);
  assert.ok(await server.silentFor(100), "a third PUBLISH went out beyond the window");
  assert.equal(client.pending, 3);
  server.send({ type: PacketType.PUBACK, packetId: first.packetId!, reasonCode: 0 });
  const third = await server.expect(PacketType.PUBLISH);
  assert.equal(third.topic, "t/3");
  server.send({ type: PacketType.PUBACK, packetId: second.packetId!, reasonCode: 0 });
  server.send({ type: PacketType.PUBACK, packetId: third.packetId!, reasonCode: 0x10 });
  assert.deepEqual(await Promise.all(acks), [0, 0, 0x10]);
  client.disconnect();
});

Deno.test("a QoS 2 publish completes after PUBREC, PUBREL and PUBCOMP", async () => {
  const { server, client } = await connected();
  const done = client.publish(message(1, 2));
  const publish = await server.expect(PacketType.PUBLISH);
  server.send({ type: PacketType.PUBREC, packetId: publish.packetId!, reasonCode: 0 });
  const pubrel = await server.expect(PacketType.PUBREL);
  assert.equal(pubrel.packetId, publish.packetId);
  server.send({ type: PacketType.PUBCOMP, packetId: publish.packetId!, reasonCode: 0 });
  assert.equal(await done, 0);
  client.disconnect();
});

Deno.test("a message larger than the server's Maximum Packet Size is not sent [MQTT-3.2.2-15]", async () => {
  const { server, client } = await connected({ properties: { maximumPacketSize: 64 } });
  const code = await client.publish({ ...message(1), payload: new Uint8Array(100) });
  assert.equal(code, 0x95);
  assert.ok(await server.silentFor(50));
  client.disconnect();
});

Deno.test("acknowledgements go out in the order the PUBLISH packets arrived, not as handlers finish [MQTT-4.6.0-2]", async () => {
  const release: (() => void)[] = [];
  const { server, client } = await connected({
    onMessage: () => new Promise<void>((resolve) => release.push(resolve)),
  });
  for (const id of [7, 8]) {
    server.send({
      type: PacketType.PUBLISH,
      topic: `in/${id}`,
      payload: encoder.encode("x"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: id,
    });
  }
  while (release.length < 2) await new Promise((r) => setTimeout(r, 5));
  release[1]();
  assert.ok(await server.silentFor(50), "the second PUBACK overtook the first");
  release[0]();
  assert.equal((await server.expect(PacketType.PUBACK)).packetId, 7);
  assert.equal((await server.expect(PacketType.PUBACK)).packetId, 8);
  client.disconnect();
});

Deno.test("a message whose handler rejects is left unacknowledged, for the server to send again", async () => {
  const { server, client } = await connected({ onMessage: () => Promise.reject(new Error("no")) });
  server.send({
    type: PacketType.PUBLISH,
    topic: "in",
    payload: encoder.encode("x"),
    qos: 1,
    retain: false,
    dup: false,
    packetId: 3,
  });
  assert.ok(await server.silentFor(100));
  client.disconnect();
});

Deno.test("a received QoS 2 message is delivered once, PUBREC answers a resend, PUBREL gets PUBCOMP", async () => {
  const seen: string[] = [];
  const { server, client } = await connected({
    onMessage: (m) => {
      seen.push(m.topic);
      return Promise.resolve();
    },
  });
  const publish = {
    type: PacketType.PUBLISH,
    topic: "q2",
    payload: encoder.encode("x"),
    qos: 2,
    retain: false,
    dup: false,
    packetId: 9,
  } as const;
  server.send(publish);
  assert.equal((await server.expect(PacketType.PUBREC)).packetId, 9);
  server.send({ ...publish, dup: true });
  assert.equal((await server.expect(PacketType.PUBREC)).packetId, 9);
  server.send({ type: PacketType.PUBREL, packetId: 9, reasonCode: 0 });
  assert.equal((await server.expect(PacketType.PUBCOMP)).packetId, 9);
  assert.deepEqual(seen, ["q2"]);
  client.disconnect();
});

Deno.test("publishes waiting for an acknowledgement are rejected when the connection ends", async () => {
  const { server, client } = await connected();
  const pending = client.publish(message(1));
  await server.expect(PacketType.PUBLISH);
  server.close();
  await assert.rejects(pending, /connection closed/);
  await client.closed;
  await assert.rejects(client.publish(message(2)), /connection closed/);
});

Deno.test("subscribe resolves with the codes of SUBACK", async () => {
  const { server, client } = await connected();
  const subscribing = client.subscribe([
    { filter: "a/#", qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 0 },
  ]);
  const subscribe = await server.expect(PacketType.SUBSCRIBE);
  assert.equal(subscribe.subscriptions[0].noLocal, true);
  server.send({ type: PacketType.SUBACK, packetId: subscribe.packetId, reasonCodes: [1] });
  assert.deepEqual(await subscribing, [1]);
  client.disconnect();
  assert.equal((await server.expect(PacketType.DISCONNECT)).reasonCode, 0);
});

Deno.test("the client pings every Server Keep Alive period and gives up on a silent server", async () => {
  const { server, client } = await connected({ properties: { serverKeepAlive: 1 } });
  const started = Date.now();
  await server.expect(PacketType.PINGREQ, 1500);
  await client.closed;
  const waited = Date.now() - started;
  assert.ok(waited >= 1500 && waited < 3500, `closed after ${waited} ms`);
  assert.equal(client.closeReason, "keep-alive timeout");
});
