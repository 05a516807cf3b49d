import assert from "node:assert/strict";
import { decodePacket, encodePacket } from "../../src/protocol/codec.ts";
import { ProtocolError, PublishRefused } from "../../src/protocol/errors.ts";
import { frameOf } from "../../src/protocol/frame_stream.ts";
import { type Packet, PacketType, type Properties, Reason } from "../../src/protocol/packet.ts";
import {
  encodeProperties,
  propertyBytes,
  type PropertyLimits,
  readProperties,
} from "../../src/protocol/properties.ts";
import { Reader } from "../../src/protocol/reader.ts";
import { varintSize, Writer, writeVarint } from "../../src/protocol/writer.ts";

const LIMITS: PropertyLimits = { maxUserProperties: 3, maxPropertyBytes: 1000 };

/** A v5 PUBLISH QoS 1 to "t", packet id 7, whose property block is `props` (raw bytes), payload "x". */
function publishFrame(props: Uint8Array) {
  const body = new Uint8Array(1 + 2 + 2 + varintSize(props.length) + props.length + 1);
  body.set([0x00, 0x01, 0x74, 0x00, 0x07], 0); // topic "t", packet id 7
  const at = writeVarint(body, 5, props.length);
  body.set(props, at);
  body[at + props.length] = 0x78; // payload "x"
  return frameOf(0x32, body);
}

/** `n` empty user properties (26 00 00 00 00 each): the property bomb of issue #18. */
function emptyUserProperties(n: number): Uint8Array {
  const bytes = new Uint8Array(5 * n);
  for (let i = 0; i < n; i++) bytes[5 * i] = 0x26;
  return bytes;
}

function reasonOf(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ProtocolError, String(err));
    return err.reasonCode;
  }
  assert.fail("did not throw");
}

Deno.test("user properties up to the limit are accepted, in order", () => {
  const props = propertyBytes({ userProperties: [["a", "1"], ["b", "2"], ["a", "3"]] }, PacketType.PUBLISH);
  const packet = decodePacket(publishFrame(props), 5, LIMITS) as Extract<Packet, { type: 3 }>;
  assert.deepEqual(packet.properties?.userProperties, [["a", "1"], ["b", "2"], ["a", "3"]]);
});

Deno.test("one user property over the limit refuses the PUBLISH with 0x97, keeping what acknowledges it", () => {
  assert.throws(() => decodePacket(publishFrame(emptyUserProperties(4)), 5, LIMITS), (err: unknown) => {
    assert.ok(err instanceof PublishRefused);
    assert.equal(err.reasonCode, Reason.QuotaExceeded);
    assert.deepEqual(err.packet, { topic: "t", qos: 1, packetId: 7 });
    return true;
  });
});

Deno.test("decoding stops at the first user property over the limit, before reading any further", () => {
  // After the fourth user property comes an unknown identifier: decoding it would be 0x81.
  const bomb = new Uint8Array([...emptyUserProperties(4), 0x7f]);
  assert.equal(reasonOf(() => decodePacket(publishFrame(bomb), 5, LIMITS)), Reason.QuotaExceeded);
  assert.equal(reasonOf(() => decodePacket(publishFrame(bomb), 5)), Reason.MalformedPacket);
});

Deno.test("a property block over the byte limit is refused from its length, before any property is read", () => {
  // 1001 bytes of garbage: refused by its length alone.
  const block = new Uint8Array(1001).fill(0x7f);
  assert.equal(reasonOf(() => decodePacket(publishFrame(block), 5, LIMITS)), Reason.QuotaExceeded);
  const exact = emptyUserProperties(200); // exactly 1000 bytes: the byte limit admits it
  const packet = decodePacket(publishFrame(exact), 5, { ...LIMITS, maxUserProperties: 200 });
  assert.equal((packet as { properties?: Properties }).properties?.userProperties?.length, 200);
});

Deno.test("every packet with properties is held to the limits: SUBSCRIBE, CONNECT, its will, DISCONNECT", () => {
  const userProperties = [["a", ""], ["b", ""], ["c", ""], ["d", ""]] as [string, string][];
  const packets: Packet[] = [
    {
      type: PacketType.SUBSCRIBE,
      packetId: 1,
      subscriptions: [{ filter: "a", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
      properties: { userProperties },
    },
    {
      type: PacketType.CONNECT,
      protocolName: "MQTT",
      protocolLevel: 5,
      clean: true,
      keepAlive: 0,
      clientId: "c",
      properties: { userProperties },
    },
    {
      type: PacketType.CONNECT,
      protocolName: "MQTT",
      protocolLevel: 5,
      clean: true,
      keepAlive: 0,
      clientId: "c",
      will: { topic: "w", payload: new Uint8Array(0), qos: 0, retain: false, properties: { userProperties } },
    },
    { type: PacketType.DISCONNECT, reasonCode: 0, properties: { userProperties } },
  ];
  for (const packet of packets) {
    const bytes = encodePacket(packet, 5);
    const frame = frameOf(bytes[0], bytes.subarray(2));
    assert.equal(reasonOf(() => decodePacket(frame, 5, LIMITS)), Reason.QuotaExceeded, `type ${packet.type}`);
    decodePacket(frame, 5); // without limits: decodes
  }
});

Deno.test("strings are measured and encoded in place: ASCII, 2-, 3- and 4-byte UTF-8, a lone surrogate", () => {
  const props: Properties = {
    contentType: "text/plain",
    responseTopic: "réponse/主题/😀",
    userProperties: [["ключ", "värde"], ["lone", "a\ud800b"], ["", ""]],
  };
  const enc = encodeProperties(props, PacketType.PUBLISH);
  const w = new Writer(varintSize(enc.length) + enc.length);
  enc.write(w);
  assert.equal(w.pos, w.buf.length, "the size computed first is the size written");
  const decoded = readProperties(new Reader(w.buf), PacketType.PUBLISH);
  // The encoder writes U+FFFD for a lone surrogate, as TextEncoder does.
  assert.deepEqual(decoded, {
    ...props,
    userProperties: [["ключ", "värde"], ["lone", "a\ufffdb"], ["", ""]],
  });
  assert.deepEqual(propertyBytes(props, PacketType.PUBLISH), w.buf.subarray(varintSize(enc.length)));
});
