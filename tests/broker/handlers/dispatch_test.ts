import assert from "node:assert/strict";
import { Broker } from "../../../src/public_broker.ts";
import { ManualClock } from "../../../src/broker/clock.ts";
import { type Packet, PacketType, Reason } from "../../../src/protocol/packet.ts";
import { TestClient } from "../../_helpers/test_client.ts";

const SERVER_ONLY: [string, Packet][] = [
  ["CONNACK", { type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0 }],
  ["SUBACK", { type: PacketType.SUBACK, packetId: 1, reasonCodes: [0] }],
  ["UNSUBACK", { type: PacketType.UNSUBACK, packetId: 1, reasonCodes: [0] }],
  ["PINGRESP", { type: PacketType.PINGRESP }],
];

for (const [name, packet] of SERVER_ONLY) {
  Deno.test(`a ${name} from a client is a protocol error: v5 DISCONNECT 0x82, then the close`, async () => {
    const broker = new Broker({ clock: new ManualClock() });
    const { client } = await TestClient.connect(broker, { clientId: "wrong-way", protocolLevel: 5 });
    client.send(packet);
    const packets = await client.closedByBroker();
    assert.deepEqual(packets.map((p) => p.type), [PacketType.DISCONNECT]);
    assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.ProtocolError);
    await broker.close();
  });
}

Deno.test("every packet a client may send after CONNECT reaches its handler", async () => {
  const broker = new Broker({ clock: new ManualClock() });
  const { client } = await TestClient.connect(broker, { clientId: "all-kinds", protocolLevel: 5 });
  client.send({
    type: PacketType.SUBSCRIBE,
    packetId: 1,
    subscriptions: [{ filter: "t", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  assert.equal((await client.next()).type, PacketType.SUBACK);
  client.send({
    type: PacketType.PUBLISH,
    topic: "t",
    payload: new Uint8Array([1]),
    qos: 1,
    retain: false,
    dup: false,
    packetId: 2,
  });
  const answers = [await client.next(), await client.next()].map((p) => p.type).sort();
  assert.deepEqual(answers, [PacketType.PUBLISH, PacketType.PUBACK].sort());
  client.send({ type: PacketType.PINGREQ });
  assert.equal((await client.next()).type, PacketType.PINGRESP);
  client.send({ type: PacketType.UNSUBSCRIBE, packetId: 3, filters: ["t"] });
  assert.equal((await client.next()).type, PacketType.UNSUBACK);
  client.send({ type: PacketType.DISCONNECT, reasonCode: 0 });
  assert.deepEqual(await client.closedByBroker(), []);
  await broker.close();
});
