/**
 * PUBLISH for all protocol levels. Decoding keeps the payload as a view (no
 * copy); encoding produces a shareable head plus the referenced payload.
 *
 * @module
 */
import { malformed, ProtocolError, protocolError, PublishRefused } from "./errors.ts";
import { PacketType, type ProtocolLevel, type PublishPacket, type QoS, Reason } from "./packet.ts";
import { encodeProperties, type PropertyLimits, readProperties } from "./properties.ts";
import { decodeUtf8, Reader } from "./reader.ts";
import { utf8Length, varintSize, Writer, writeVarint } from "./writer.ts";

/**
 * Decodes a PUBLISH body. Past `limits` its properties are refused with a {@link PublishRefused}
 * that still carries the topic, QoS and packet id, so that the packet can be acknowledged.
 */
export function decodePublish(
  flags: number,
  body: Uint8Array,
  level: ProtocolLevel,
  limits?: PropertyLimits,
): PublishPacket {
  const qos = (flags >> 1) & 0x03;
  // [MQTT-3.3.1-4] both QoS bits set is malformed.
  if (qos === 3) throw malformed("PUBLISH with QoS 3");
  const dup = (flags & 0x08) !== 0;
  // [MQTT-3.3.1-2] DUP must be 0 for QoS 0.
  if (dup && qos === 0) throw malformed("PUBLISH QoS 0 with DUP set");
  if (body.length < 2) throw malformed("packet too short: topic length truncated");
  const topicLength = (body[0] << 8) | body[1];
  let pos = 2 + topicLength;
  if (pos > body.length) throw malformed("packet too short: topic truncated");
  const topic = decodeUtf8(body, 2, pos);
  // [MQTT-3.3.2-2] a topic name must not contain wildcard characters.
  if (topic.indexOf("+") !== -1 || topic.indexOf("#") !== -1) {
    throw protocolError(Reason.TopicNameInvalid, "wildcard in a PUBLISH topic name");
  }
  let packetId: number | undefined;
  if (qos > 0) {
    if (pos + 2 > body.length) throw malformed("packet too short: packet identifier truncated");
    packetId = (body[pos] << 8) | body[pos + 1];
    pos += 2;
    // [MQTT-2.2.1-3] QoS 1 and 2 need a non-zero packet identifier.
    if (packetId === 0) throw protocolError(Reason.ProtocolError, "PUBLISH with packet identifier 0");
  }
  let properties;
  if (level === 5) {
    const r = new Reader(body, pos);
    try {
      properties = readProperties(r, PacketType.PUBLISH, limits);
    } catch (err) {
      if (err instanceof ProtocolError && err.reasonCode === Reason.QuotaExceeded) {
        throw new PublishRefused(err, { topic, qos: qos as QoS, packetId });
      }
      throw err;
    }
    pos = r.pos;
  }
  const packet: PublishPacket = {
    type: PacketType.PUBLISH,
    topic,
    payload: body.subarray(pos),
    qos: qos as QoS,
    retain: (flags & 0x01) !== 0,
    dup,
    packetId,
    properties,
  };
  return packet;
}

/** An encoded PUBLISH that many subscribers can share. */
export interface EncodedPublish {
  /** Fixed header, topic, packet id and properties; the remaining length counts the payload too. */
  head: Uint8Array;
  /** Index of the 2-byte packet identifier in `head`, -1 for QoS 0. */
  packetIdOffset: number;
  /** The payload: the same object as the packet's, never copied. */
  payload: Uint8Array;
}

/**
 * Encodes a PUBLISH. `shared` are property bytes encoded once for the message (the
 * publisher's properties, see propertyBytes): they follow `p.properties` (what differs per
 * subscriber) in the property block, copied, never encoded again. Ignored below level 5.
 */
export function encodePublish(p: PublishPacket, level: ProtocolLevel, shared?: Uint8Array): EncodedPublish {
  const sharedLength = level === 5 && shared !== undefined ? shared.length : 0;
  if (level < 5 || (p.properties === undefined && sharedLength === 0)) {
    const fast = encodePlainPublish(p, level);
    if (fast !== undefined) return fast;
  }
  const topicLength = utf8Length(p.topic);
  const own = level === 5 ? encodeProperties(p.properties, PacketType.PUBLISH) : undefined;
  const propsLength = own === undefined ? 0 : own.length + sharedLength;
  const variable = 2 + topicLength + (p.qos > 0 ? 2 : 0) +
    (own === undefined ? 0 : varintSize(propsLength) + propsLength);
  const remaining = variable + p.payload.length;
  const w = new Writer(1 + varintSize(remaining) + variable);
  w.u8((PacketType.PUBLISH << 4) | (p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0));
  w.varint(remaining);
  w.utf8(p.topic, topicLength);
  let packetIdOffset = -1;
  if (p.qos > 0) {
    packetIdOffset = w.pos;
    w.u16(p.packetId ?? 0);
  }
  if (own !== undefined) {
    w.varint(propsLength);
    own.writeBody(w);
    if (sharedLength > 0) w.raw(shared!);
  }
  return { head: w.buf, packetIdOffset, payload: p.payload };
}

/**
 * The common case, an ASCII topic and no properties, written straight into the head: no
 * TextEncoder call and no Writer, one allocation per encoding. Undefined for other topics.
 */
function encodePlainPublish(p: PublishPacket, level: ProtocolLevel): EncodedPublish | undefined {
  const topic = p.topic;
  const n = topic.length;
  for (let i = 0; i < n; i++) if (topic.charCodeAt(i) > 0x7f) return undefined;
  const variable = 2 + n + (p.qos > 0 ? 2 : 0) + (level === 5 ? 1 : 0);
  const remaining = variable + p.payload.length;
  const head = new Uint8Array(1 + varintSize(remaining) + variable);
  head[0] = (PacketType.PUBLISH << 4) | (p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0);
  let at = writeVarint(head, 1, remaining);
  head[at++] = n >> 8;
  head[at++] = n & 0xff;
  for (let i = 0; i < n; i++) head[at++] = topic.charCodeAt(i);
  let packetIdOffset = -1;
  if (p.qos > 0) {
    packetIdOffset = at;
    const id = p.packetId ?? 0;
    head[at++] = id >> 8;
    head[at++] = id & 0xff;
  }
  if (level === 5) head[at] = 0; // property length 0
  return { head, packetIdOffset, payload: p.payload };
}

/** The whole packet in one buffer (copies the payload once). */
export function encodePublishPacket(p: PublishPacket, level: ProtocolLevel): Uint8Array {
  const { head, payload } = encodePublish(p, level);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}
