/**
 * The broker's packets against a v5 client's Maximum Packet Size: never a byte
 * over it [MQTT-3.1.2-24]; what may be left out is, and what cannot fit is not
 * sent and ends the connection.
 */
import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { fitPacket } from "../../src/broker/packet_fit.ts";
import { decodePacket, encodePacket } from "../../src/protocol/codec.ts";
import { FrameSplitter, PROTOCOL_MAX_PACKET_SIZE } from "../../src/protocol/frame_stream.ts";
import { type Packet, PacketType, type Properties, Reason } from "../../src/protocol/packet.ts";
import { memorySocketPair } from "../_helpers/memory_socket.ts";
import { waitFor } from "../_helpers/wait_for.ts";

/** A raw v5 client on an in-memory socket that records the size of every packet it receives. */
function tinyClient(broker: Engine, maximumPacketSize: number, clientId = "tiny") {
  const { socket, client } = memorySocketPair();
  broker.handle(socket);
  const received: { size: number; packet: Packet }[] = [];
  const splitter = new FrameSplitter();
  let ended = false;
  (async () => {
    for (let chunk = await client.read(); chunk !== null; chunk = await client.read()) {
      for (const frame of splitter.push(chunk)) {
        const size = encodedSize(frame.body.length);
        received.push({ size, packet: decodePacket(frame, 5) });
      }
    }
    ended = true;
  })();
  const send = (packet: Packet) => client.write(encodePacket(packet, 5));
  send({
    type: PacketType.CONNECT,
    protocolName: "MQTT",
    protocolLevel: 5,
    clean: true,
    keepAlive: 0,
    clientId,
    properties: { maximumPacketSize },
  });
  return {
    received,
    send,
    until: (condition: () => boolean, what: string) => waitFor(what, condition, 2000),
    get ended() {
      return ended;
    },
  };
}

function encodedSize(bodyLength: number): number {
  return 1 + (bodyLength < 128 ? 1 : bodyLength < 16384 ? 2 : 3) + bodyLength;
}

const subscribe = (filter: string): Packet => ({
  type: PacketType.SUBSCRIBE,
  packetId: 1,
  subscriptions: [{ filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
});

/** A broker that advertises no Maximum Packet Size of its own (its CONNACK can shrink to 5 bytes). */
const unlimited = () =>
  new Engine({
    clock: new ManualClock(),
    limits: { maxPartialPacketBytes: PROTOCOL_MAX_PACKET_SIZE },
  });

Deno.test("v5: a client of Maximum Packet Size 5 gets a 5-byte CONNACK without the optional Topic Alias Maximum, and may then use no alias [MQTT-3.1.2-24] [MQTT-3.3.2-9]", async () => {
  const c = tinyClient(unlimited(), 5);
  await c.until(() => c.received.length === 1, "CONNACK");
  const [{ size, packet }] = c.received;
  assert.equal(packet.type, PacketType.CONNACK);
  assert.equal(size, 5);
  assert.equal((packet as { reasonCode: number }).reasonCode, 0);
  // Its full CONNACK would have granted aliases; this client was told of none.
  c.send({
    type: PacketType.PUBLISH,
    topic: "t",
    payload: new Uint8Array(0),
    qos: 0,
    retain: false,
    dup: false,
    properties: { topicAlias: 1 },
  });
  await c.until(() => c.ended, "the close");
  const last = c.received.at(-1)!;
  assert.equal(last.packet.type, PacketType.DISCONNECT);
  assert.equal((last.packet as { reasonCode: number }).reasonCode, Reason.TopicAliasInvalid);
  assert.ok(last.size <= 5);
});

Deno.test("v5: a SUBACK that cannot fit the client's Maximum Packet Size is not sent; the connection is closed with DISCONNECT 0x95 [MQTT-3.1.2-24]", async () => {
  const broker = unlimited();
  const c = tinyClient(broker, 5);
  await c.until(() => c.received.length === 1, "CONNACK");
  c.send(subscribe("a/b")); // its SUBACK is at least 6 bytes
  await c.until(() => c.ended, "the close");
  assert.deepEqual(c.received.map((r) => r.packet.type), [PacketType.CONNACK, PacketType.DISCONNECT]);
  const disconnect = c.received[1];
  assert.equal((disconnect.packet as { reasonCode: number }).reasonCode, Reason.PacketTooLarge);
  assert.equal(disconnect.size, 3, "the Reason String left out");
  assert.ok(c.received.every((r) => r.size <= 5));
});

Deno.test("v5: a CONNACK that cannot fit even without its optional properties is not sent, and the connection closes [MQTT-3.1.2-24]", async () => {
  // An empty client id: the Assigned Client Identifier is owed [MQTT-3.2.2-16] and is 40+ bytes.
  const c = tinyClient(unlimited(), 20, "");
  await c.until(() => c.ended, "the close");
  assert.deepEqual(c.received, [], "no CONNACK, and no DISCONNECT before a CONNACK [MQTT-3.14.0-1]");
  // A broker that advertises its Maximum Packet Size has a 10-byte minimal CONNACK.
  const d = tinyClient(new Engine({ clock: new ManualClock() }), 9);
  await d.until(() => d.ended, "the close");
  assert.deepEqual(d.received, []);
});

Deno.test("v5: below the 5 bytes of a minimal CONNACK a client is closed without one; a 2-byte PINGRESP fits a client of 5 [MQTT-3.1.2-24]", async () => {
  const broker = unlimited();
  const c = tinyClient(broker, 5);
  await c.until(() => c.received.length === 1, "CONNACK");
  c.send({ type: PacketType.PINGREQ });
  await c.until(() => c.received.length === 2, "PINGRESP");
  assert.equal(c.received[1].size, 2);
  const d = tinyClient(broker, 3, "three");
  await d.until(() => d.ended, "the close");
  assert.deepEqual(d.received, [], "a 5-byte CONNACK does not fit in 3");
});

Deno.test("fitPacket leaves out diagnostics first, then a CONNACK's optional properties, never a limit the client must know", () => {
  const properties: Properties = {
    reasonString: "why",
    userProperties: [["k", "v"]],
    topicAliasMaximum: 10,
    responseInformation: "r",
    maximumQoS: 1,
    receiveMaximum: 20,
  };
  const connack: Packet = { type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0, properties };
  const full = encodePacket(connack, 5).length;
  assert.equal(fitPacket(connack, 5, full)!.packet, connack, "fits as it is");
  const noDiagnostics = fitPacket(connack, 5, full - 1)!;
  assert.deepEqual((noDiagnostics.packet as { properties: Properties }).properties, {
    topicAliasMaximum: 10,
    responseInformation: "r",
    maximumQoS: 1,
    receiveMaximum: 20,
  });
  const minimal = fitPacket(connack, 5, noDiagnostics.bytes.length - 1)!;
  assert.deepEqual((minimal.packet as { properties: Properties }).properties, {
    maximumQoS: 1,
    receiveMaximum: 20,
  });
  assert.equal(fitPacket(connack, 5, minimal.bytes.length - 1), null);
  // Other packets lose only their diagnostics.
  const suback: Packet = {
    type: PacketType.SUBACK,
    packetId: 1,
    reasonCodes: [1],
    properties: { reasonString: "x" },
  };
  assert.equal(fitPacket(suback, 5, 6)!.bytes.length, 6);
  assert.equal(fitPacket(suback, 5, 5), null);
});
