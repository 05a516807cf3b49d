import assert from "node:assert/strict";
import { decodePacket, encodePacket, encodePublish } from "../../src/protocol/codec.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { FrameSplitter } from "../../src/protocol/frame_stream.ts";
import {
  type Packet,
  PacketType,
  type ProtocolLevel,
  type PublishPacket,
  Reason,
} from "../../src/protocol/packet.ts";
import { PublishHead } from "../../src/protocol/publish.ts";
import { fixtures } from "./fixtures.ts";

/** Frames and decodes a complete packet given as bytes. */
function decodeBytes(bytes: number[] | Uint8Array, level: ProtocolLevel): Packet {
  const frames = new FrameSplitter().push(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
  assert.equal(frames.length, 1);
  return decodePacket(frames[0], level);
}

function roundTrip(packet: Packet, level: ProtocolLevel): Packet {
  return decodeBytes(encodePacket(packet, level), level);
}

/** Asserts that decoding throws a ProtocolError with `reason`. */
function rejects(bytes: number[], level: ProtocolLevel, reason: number): void {
  assert.throws(() => decodeBytes(bytes, level), (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${err}`);
    assert.equal(err.reasonCode, reason, err.message);
    return true;
  });
}

for (const f of fixtures) {
  Deno.test(`fixture decodes: ${f.name}`, () => {
    assert.deepEqual(decodeBytes(f.bytes, f.level), f.packet);
  });
  Deno.test(`fixture decodes when fed at every split point: ${f.name}`, () => {
    for (let cut = 0; cut <= f.bytes.length; cut++) {
      const splitter = new FrameSplitter();
      const frames = [
        ...splitter.push(new Uint8Array(f.bytes.slice(0, cut))),
        ...splitter.push(new Uint8Array(f.bytes.slice(cut))),
      ];
      assert.equal(frames.length, 1, `cut at ${cut}`);
      assert.deepEqual(decodePacket(frames[0], f.level), f.packet, `cut at ${cut}`);
    }
    const splitter = new FrameSplitter();
    const frames = f.bytes.flatMap((b) => splitter.push(new Uint8Array([b])));
    assert.deepEqual(decodePacket(frames[0], f.level), f.packet, "byte by byte");
  });
  Deno.test(`fixture round-trips through the encoder: ${f.name}`, () => {
    assert.deepEqual(roundTrip(f.packet, f.level), f.packet);
  });
}

const te = new TextEncoder();

Deno.test("every packet type round-trips at every protocol level", () => {
  for (const level of [3, 4, 5] as ProtocolLevel[]) {
    const packets: Packet[] = [
      {
        type: PacketType.CONNECT,
        protocolName: level === 3 ? "MQIsdp" : "MQTT",
        protocolLevel: level,
        clean: false,
        keepAlive: 65535,
        clientId: "client-ü",
        username: "user",
        password: te.encode("secret"),
        will: { topic: "will/topic", payload: te.encode("bye"), qos: 2, retain: true },
      },
      { type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0 },
      {
        type: PacketType.PUBLISH,
        topic: "x/y",
        payload: te.encode("p"),
        qos: 2,
        retain: false,
        dup: true,
        packetId: 65535,
        properties: undefined,
      },
      { type: PacketType.PUBACK, packetId: 1, reasonCode: 0 },
      { type: PacketType.PUBREC, packetId: 2, reasonCode: 0 },
      { type: PacketType.PUBREL, packetId: 3, reasonCode: 0 },
      { type: PacketType.PUBCOMP, packetId: 4, reasonCode: 0 },
      {
        type: PacketType.SUBSCRIBE,
        packetId: 5,
        subscriptions: [
          { filter: "a/+", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
          { filter: "#", qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        ],
      },
      { type: PacketType.SUBACK, packetId: 5, reasonCodes: [0, 2] },
      { type: PacketType.UNSUBSCRIBE, packetId: 6, filters: ["a/+", "#"] },
      { type: PacketType.UNSUBACK, packetId: 6, reasonCodes: level === 5 ? [0, 0x11] : [] },
      { type: PacketType.PINGREQ },
      { type: PacketType.PINGRESP },
      { type: PacketType.DISCONNECT, reasonCode: 0 },
    ];
    if (level === 5) {
      packets.push({ type: PacketType.AUTH, reasonCode: 0x19, properties: { authenticationMethod: "m" } });
    }
    for (const p of packets) assert.deepEqual(roundTrip(p, level), p, `level ${level} type ${p.type}`);
  }
});

Deno.test("every MQTT 5 property round-trips in a packet that allows it", () => {
  const publish: Packet = {
    type: PacketType.PUBLISH,
    topic: "t",
    payload: te.encode("x"),
    qos: 1,
    retain: false,
    dup: false,
    packetId: 9,
    properties: {
      payloadFormatIndicator: 1,
      messageExpiryInterval: 4294967295,
      contentType: "text/plain",
      responseTopic: "r/t",
      correlationData: new Uint8Array([0, 1, 255]),
      subscriptionIdentifiers: [1, 268435455],
      topicAlias: 3,
      userProperties: [["k", "v"], ["k", "w"]],
    },
  };
  const connect: Packet = {
    type: PacketType.CONNECT,
    protocolName: "MQTT",
    protocolLevel: 5,
    clean: true,
    keepAlive: 0,
    clientId: "",
    properties: {
      sessionExpiryInterval: 10,
      authenticationMethod: "SCRAM-SHA-256",
      authenticationData: new Uint8Array([1]),
      requestProblemInformation: 0,
      requestResponseInformation: 1,
      receiveMaximum: 10,
      topicAliasMaximum: 5,
      maximumPacketSize: 1024,
      userProperties: [["a", "b"]],
    },
    will: {
      topic: "w",
      payload: new Uint8Array(0),
      qos: 0,
      retain: false,
      properties: { willDelayInterval: 3, contentType: "c" },
    },
  };
  const connack: Packet = {
    type: PacketType.CONNACK,
    sessionPresent: true,
    reasonCode: 0,
    properties: {
      sessionExpiryInterval: 1,
      assignedClientIdentifier: "id",
      serverKeepAlive: 30,
      authenticationMethod: "m",
      authenticationData: new Uint8Array([2]),
      responseInformation: "resp",
      serverReference: "other",
      reasonString: "why",
      receiveMaximum: 20,
      topicAliasMaximum: 0,
      maximumQoS: 1,
      retainAvailable: 0,
      maximumPacketSize: 2048,
      wildcardSubscriptionAvailable: 0,
      subscriptionIdentifiersAvailable: 1,
      sharedSubscriptionAvailable: 0,
    },
  };
  const disconnect: Packet = {
    type: PacketType.DISCONNECT,
    reasonCode: 0x8e,
    properties: {
      sessionExpiryInterval: 0,
      serverReference: "s",
      reasonString: "r",
      userProperties: [["x", "y"]],
    },
  };
  const puback: Packet = {
    type: PacketType.PUBACK,
    packetId: 1,
    reasonCode: 0x10,
    properties: { reasonString: "no one" },
  };
  for (const p of [publish, connect, connack, disconnect, puback]) assert.deepEqual(roundTrip(p, 5), p);
});

Deno.test("properties are not written for protocol levels below 5", () => {
  const p: Packet = {
    type: PacketType.PUBLISH,
    topic: "t",
    payload: te.encode("x"),
    qos: 0,
    retain: false,
    dup: false,
    properties: { contentType: "c" },
  };
  const decoded = roundTrip(p, 4) as { properties?: unknown };
  assert.equal(decoded.properties, undefined);
});

Deno.test("encodePublish references the payload and reports where the packet id goes", () => {
  const payload = te.encode("shared");
  const enc = encodePublish({
    type: PacketType.PUBLISH,
    topic: "a",
    payload,
    qos: 1,
    retain: false,
    dup: false,
    packetId: 1,
  }, 4);
  assert.equal(enc.payload, payload);
  assert.equal(enc.head[enc.packetIdOffset], 0);
  assert.equal(enc.head[enc.packetIdOffset + 1], 1);
  const qos0 = encodePublish({
    type: PacketType.PUBLISH,
    topic: "a",
    payload,
    qos: 0,
    retain: false,
    dup: false,
  }, 4);
  assert.equal(qos0.packetIdOffset, -1);
});

Deno.test("the ASCII fast path of encodePublish decodes back at every remaining-length size", () => {
  for (const level of [3, 4, 5] as const) {
    for (const size of [0, 1, 100, 120, 127, 128, 16_000, 16_383, 16_384, 2_100_000]) {
      for (const qos of [0, 1, 2] as const) {
        const packet = {
          type: PacketType.PUBLISH,
          topic: "sensors/a b/ünïcode".slice(0, size % 2 ? 9 : 19), // ASCII and non-ASCII topics
          payload: new Uint8Array(size).fill(7),
          qos,
          retain: size % 3 === 0,
          dup: qos > 0 && size % 2 === 1,
          packetId: qos > 0 ? 0x1234 : undefined,
        } as const;
        const { head, packetIdOffset, payload } = encodePublish(packet, level);
        const bytes = new Uint8Array(head.length + payload.length);
        bytes.set(head);
        bytes.set(payload, head.length);
        const frames = new FrameSplitter({ maxPacketSize: 4_000_000 }).push(bytes);
        const back = decodePacket(frames[0], level);
        assert.equal(back.type, PacketType.PUBLISH);
        if (back.type !== PacketType.PUBLISH) continue;
        assert.deepEqual(
          [back.topic, back.payload.length, back.qos, back.retain, back.dup, back.packetId],
          [packet.topic, size, qos, packet.retain, packet.dup, packet.packetId],
        );
        assert.equal(packetIdOffset, qos > 0 ? head.indexOf(0x12, 3) : -1);
      }
    }
  }
});

Deno.test("reserved fixed-header flags are malformed [MQTT-2.1.3-1]", () => {
  rejects([0x41, 0x02, 0x00, 0x01], 4, Reason.MalformedPacket); // PUBACK with flags 0001
  rejects([0xc1, 0x00], 4, Reason.MalformedPacket); // PINGREQ with flags 0001
});

Deno.test("PUBREL flags other than 0010 are malformed [MQTT-3.6.1-1]", () => {
  rejects([0x60, 0x02, 0x00, 0x01], 4, Reason.MalformedPacket);
});

Deno.test("SUBSCRIBE flags other than 0010 are malformed [MQTT-3.8.1-1]", () => {
  rejects([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00], 4, Reason.MalformedPacket);
});

Deno.test("UNSUBSCRIBE flags other than 0010 are malformed [MQTT-3.10.1-1]", () => {
  rejects([0xa0, 0x05, 0x00, 0x01, 0x00, 0x01, 0x61], 4, Reason.MalformedPacket);
});

Deno.test("DISCONNECT with reserved flags is malformed [MQTT-3.14.1-1]", () => {
  rejects([0xe1, 0x00], 5, Reason.MalformedPacket);
});

Deno.test("AUTH with reserved flags is malformed [MQTT-3.15.1-1]", () => {
  rejects([0xf2, 0x00], 5, Reason.MalformedPacket);
});

Deno.test("PUBLISH with QoS 3 is malformed [MQTT-3.3.1-4]", () => {
  rejects([0x36, 0x05, 0x00, 0x01, 0x74, 0x00, 0x01], 4, Reason.MalformedPacket);
});

Deno.test("PUBLISH QoS 0 with DUP set is malformed [MQTT-3.3.1-2]", () => {
  rejects([0x38, 0x03, 0x00, 0x01, 0x74], 4, Reason.MalformedPacket);
});

Deno.test("a wildcard in a PUBLISH topic is Topic Name Invalid [MQTT-3.3.2-2]", () => {
  rejects([0x30, 0x05, 0x00, 0x03, 0x61, 0x2f, 0x2b], 4, Reason.TopicNameInvalid); // "a/+"
  rejects([0x30, 0x03, 0x00, 0x01, 0x23], 4, Reason.TopicNameInvalid); // "#"
});

Deno.test("packet identifier 0 where one is required is a protocol error [MQTT-2.2.1-3]", () => {
  rejects([0x32, 0x05, 0x00, 0x01, 0x74, 0x00, 0x00], 4, Reason.ProtocolError); // PUBLISH QoS 1
  rejects([0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 0x61, 0x00], 4, Reason.ProtocolError); // SUBSCRIBE
  rejects([0xa2, 0x05, 0x00, 0x00, 0x00, 0x01, 0x61], 4, Reason.ProtocolError); // UNSUBSCRIBE
});

Deno.test("acknowledgements with packet identifier 0 are a protocol error [MQTT-2.2.1-5]", () => {
  rejects([0x40, 0x02, 0x00, 0x00], 4, Reason.ProtocolError);
});

Deno.test("SUBSCRIBE without any topic filter is a protocol error [MQTT-3.8.3-2]", () => {
  rejects([0x82, 0x02, 0x00, 0x01], 4, Reason.ProtocolError);
});

Deno.test("UNSUBSCRIBE without any topic filter is a protocol error [MQTT-3.10.3-2]", () => {
  rejects([0xa2, 0x02, 0x00, 0x01], 4, Reason.ProtocolError);
});

Deno.test("reserved bits in subscription options are malformed [MQTT-3.8.3-5]", () => {
  rejects([0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0xc0], 5, Reason.MalformedPacket);
  rejects([0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x04], 4, Reason.MalformedPacket); // No Local bit in 3.1.1
});

Deno.test("ill-formed UTF-8 in a string is malformed [MQTT-1.5.4-1]", () => {
  rejects([0x30, 0x04, 0x00, 0x02, 0xc3, 0x28], 4, Reason.MalformedPacket);
  rejects([0x30, 0x05, 0x00, 0x03, 0xed, 0xa0, 0x80], 4, Reason.MalformedPacket); // a UTF-16 surrogate
});

Deno.test("U+0000 in a string is malformed [MQTT-1.5.4-2]", () => {
  rejects([0x30, 0x05, 0x00, 0x03, 0x61, 0x00, 0x62], 4, Reason.MalformedPacket);
});

Deno.test("truncated strings are malformed", () => {
  rejects([0x82, 0x06, 0x00, 0x01, 0x00, 0x05, 0x61, 0x62], 4, Reason.MalformedPacket);
  rejects([0x30, 0x03, 0x00, 0x09, 0x61], 4, Reason.MalformedPacket);
});

Deno.test("CONNECT with the reserved flag set is malformed [MQTT-3.1.2-3]", () => {
  rejects(
    [0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x03, 0x00, 0x00, 0x00, 0x00],
    4,
    Reason.MalformedPacket,
  );
});

Deno.test("CONNECT with will QoS or retain but no will flag is malformed [MQTT-3.1.2-11] [MQTT-3.1.2-13]", () => {
  rejects(
    [0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x0a, 0x00, 0x00, 0x00, 0x00],
    4,
    Reason.MalformedPacket,
  );
  rejects(
    [0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x22, 0x00, 0x00, 0x00, 0x00],
    4,
    Reason.MalformedPacket,
  );
});

Deno.test("3.1.1 CONNECT with a password but no user name is malformed [MQTT-3.1.2-22]", () => {
  rejects(
    [0x10, 0x0e, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    4,
    Reason.MalformedPacket,
  );
});

Deno.test("an unknown protocol name or level is Unsupported Protocol Version", () => {
  rejects(
    [0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x06, 0x02, 0x00, 0x00, 0x00, 0x00],
    4,
    Reason.UnsupportedProtocolVersion,
  );
});

Deno.test("a CONNECT with the bridge bit in the level is decoded with bridge set", () => {
  const p = decodeBytes(
    [0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x84, 0x02, 0x00, 0x00, 0x00, 0x00],
    4,
  );
  assert.equal((p as { bridge?: boolean }).bridge, true);
});

Deno.test("CONNACK with reserved acknowledge flags is malformed [MQTT-3.2.2-1]", () => {
  rejects([0x20, 0x02, 0x02, 0x00], 4, Reason.MalformedPacket);
});

Deno.test("a duplicate property is a protocol error", () => {
  // PUBLISH v5, topic "t", properties (4): content type? no: two payload format indicators.
  rejects([0x30, 0x08, 0x00, 0x01, 0x74, 0x04, 0x01, 0x00, 0x01, 0x00], 5, Reason.ProtocolError);
});

Deno.test("a property not allowed in the packet is a protocol error", () => {
  rejects([0x30, 0x07, 0x00, 0x01, 0x74, 0x03, 0x13, 0x00, 0x05], 5, Reason.ProtocolError); // Server Keep Alive in PUBLISH
});

Deno.test("an unknown property identifier is malformed", () => {
  rejects([0x30, 0x06, 0x00, 0x01, 0x74, 0x02, 0x7f, 0x00], 5, Reason.MalformedPacket);
});

Deno.test("a property length beyond the packet is malformed", () => {
  rejects([0x30, 0x05, 0x00, 0x01, 0x74, 0x09, 0x01], 5, Reason.MalformedPacket);
});

Deno.test("property values the specification constrains are checked", () => {
  rejects([0x30, 0x06, 0x00, 0x01, 0x74, 0x02, 0x01, 0x02], 5, Reason.ProtocolError); // payload format 2
  rejects([0x82, 0x09, 0x00, 0x01, 0x02, 0x0b, 0x00, 0x00, 0x01, 0x61, 0x00], 5, Reason.ProtocolError); // subscription id 0
});

Deno.test("v5: a reason code without properties is sent without a Property Length (DISCONNECT 3 bytes, acks 5)", () => {
  const disconnect: Packet = { type: PacketType.DISCONNECT, reasonCode: Reason.PacketTooLarge };
  assert.deepEqual([...encodePacket(disconnect, 5)], [0xe0, 0x01, 0x95]);
  assert.deepEqual(roundTrip(disconnect, 5), disconnect);
  const puback: Packet = { type: PacketType.PUBACK, packetId: 1, reasonCode: Reason.QuotaExceeded };
  assert.deepEqual([...encodePacket(puback, 5)], [0x40, 0x03, 0x00, 0x01, 0x97]);
  assert.deepEqual(roundTrip(puback, 5), puback);
});

Deno.test("a PUBLISH kept beyond the read (QoS 1/2, or retained) owns its payload; a QoS 0 one is a view of the frame", () => {
  const packet = (qos: 0 | 1, retain: boolean) =>
    encodePacket({
      type: PacketType.PUBLISH,
      topic: "t",
      payload: te.encode("abc"),
      qos,
      retain,
      dup: false,
      packetId: qos > 0 ? 1 : undefined,
    }, 4);
  for (const [qos, retain, view] of [[0, false, true], [0, true, false], [1, false, false]] as const) {
    const bytes = packet(qos, retain);
    const decoded = decodeBytes(bytes, 4) as PublishPacket;
    bytes.fill(0x21); // the read buffer is reused by the next read
    assert.equal(
      new TextDecoder().decode(decoded.payload),
      view ? "!!!" : "abc",
      `QoS ${qos} retain ${retain}`,
    );
  }
});

Deno.test("a reused PublishHead encodes the same bytes as encodePublish, whatever it held before", () => {
  const head = new PublishHead();
  const publish = (topic: string, qos: 0 | 1, properties?: PublishPacket["properties"]): PublishPacket => ({
    type: PacketType.PUBLISH,
    topic,
    payload: te.encode("payload"),
    qos,
    retain: qos === 0,
    dup: false,
    packetId: qos > 0 ? 7 : undefined,
    properties,
  });
  const shared = new Uint8Array([0x03, 0x00, 0x01, 0x63]); // Content Type "c", encoded once elsewhere
  const cases: [PublishPacket, ProtocolLevel, Uint8Array | undefined][] = [
    [publish("short", 1), 4, undefined],
    [publish("a/much/longer/topic/".repeat(8), 0), 4, undefined], // grows the buffer
    [publish("s", 1), 5, undefined], // shorter than the buffer: headLength tells
    [publish("ünïcode", 1), 4, undefined],
    [publish("props", 1, { messageExpiryInterval: 9 }), 5, shared],
    [publish("x".repeat(300), 1, { messageExpiryInterval: 9 }), 5, shared],
    [publish("s", 0), 3, undefined],
  ];
  for (const [packet, level, props] of cases) {
    const fresh = encodePublish(packet, level, props);
    const reused = head.encode(packet, level, props);
    assert.equal(reused, head);
    assert.deepEqual(reused.head.subarray(0, reused.headLength), fresh.head, packet.topic);
    assert.equal(reused.headLength, fresh.headLength);
    assert.equal(reused.packetIdOffset, fresh.packetIdOffset);
    assert.equal(reused.payload, packet.payload);
  }
  head.release();
  assert.equal(head.payload.length, 0, "it keeps no payload once released");
});
