/**
 * PUBLISH for all protocol levels. Decoding copies the payload only when the
 * message is kept (decodePublish); encoding produces a shareable head plus the
 * referenced payload.
 *
 * @module
 */
import { malformed, ProtocolError, protocolError, PublishRefused } from "./errors.ts";
import {
  type Frame,
  PacketType,
  type ProtocolLevel,
  type PublishPacket,
  type QoS,
  Reason,
} from "./packet.ts";
import { encodeProperties, type PropertyLimits, readProperties } from "./properties.ts";
import { decodeUtf8, Reader } from "./reader.ts";
import { utf8Length, varintSize, Writer, writeVarint } from "./writer.ts";

/**
 * Decodes a PUBLISH frame. Past `limits` its properties are refused with a {@link PublishRefused}
 * that still carries the topic, QoS and packet id, so that the packet can be acknowledged.
 *
 * The payload of a QoS 0 message without RETAIN is a view into the frame's buffer: it is
 * forwarded at once and forgotten. Any other payload is a copy of its own, since the message
 * outlives the read buffer (in flight, queued, or retained); copied straight from the frame,
 * it costs one buffer and no intermediate view.
 */
export function decodePublish(frame: Frame, level: ProtocolLevel, limits?: PropertyLimits): PublishPacket {
  const flags = frame.header & 0x0f;
  const qos = (flags >> 1) & 0x03;
  // [MQTT-3.3.1-4] both QoS bits set is malformed.
  if (qos === 3) throw malformed("PUBLISH with QoS 3");
  const dup = (flags & 0x08) !== 0;
  // [MQTT-3.3.1-2] DUP must be 0 for QoS 0.
  if (dup && qos === 0) throw malformed("PUBLISH QoS 0 with DUP set");
  const bytes = frame.bytes;
  const start = frame.start;
  const end = frame.end;
  if (end - start < 2) throw malformed("packet too short: topic length truncated");
  const topicLength = (bytes[start] << 8) | bytes[start + 1];
  let pos = start + 2 + topicLength;
  if (pos > end) throw malformed("packet too short: topic truncated");
  const topic = decodeUtf8(bytes, start + 2, pos);
  // [MQTT-3.3.2-2] a topic name must not contain wildcard characters.
  if (topic.indexOf("+") !== -1 || topic.indexOf("#") !== -1) {
    throw protocolError(Reason.TopicNameInvalid, "wildcard in a PUBLISH topic name");
  }
  let packetId: number | undefined;
  if (qos > 0) {
    if (pos + 2 > end) throw malformed("packet too short: packet identifier truncated");
    packetId = (bytes[pos] << 8) | bytes[pos + 1];
    pos += 2;
    // [MQTT-2.2.1-3] QoS 1 and 2 need a non-zero packet identifier.
    if (packetId === 0) throw protocolError(Reason.ProtocolError, "PUBLISH with packet identifier 0");
  }
  let properties;
  if (level === 5) {
    const r = new Reader(bytes, pos, end);
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
  const retain = (flags & 0x01) !== 0;
  const packet: PublishPacket = {
    type: PacketType.PUBLISH,
    topic,
    payload: qos === 0 && !retain ? bytes.subarray(pos, end) : bytes.slice(pos, end),
    qos: qos as QoS,
    retain,
    dup,
    packetId,
    properties,
  };
  return packet;
}

/**
 * From this size on, a payload handed to `Socket.writePublish` is written from where it is
 * instead of being copied into the connection's write queue once per subscriber. Such a
 * payload must therefore never change once written: stored messages' payloads never do; the
 * router copies a payload that is only a view into a read buffer once, before its first
 * subscriber.
 *
 * Why not smaller: Deno has no vectored write, so a shared payload costs a write of its own
 * (and its head another), where copied payloads go out 256 KiB per write. Measured with
 * fan-out 1:20 (docs/benchmarks.md, 2026-12-05): shared from 4 KiB on, 16 KiB payloads fell
 * from 1.09× to 0.67× Mosquitto's rate; 64 KiB payloads went 6% faster shared than copied.
 */
export const SHARED_PAYLOAD_MIN = 64 * 1024;

/**
 * An encoded PUBLISH that many subscribers can share: what the engine hands
 * `Socket.writePublish`, a head and the payload it is followed by.
 *
 * @example
 * ```ts
 * import type { EncodedPublish } from "../mod.ts";
 * // QoS 0 to topic "t" (no packet id) with a 2-byte payload.
 * const encoded: EncodedPublish = {
 *   head: Uint8Array.of(0x30, 0x05, 0x00, 0x01, 0x74),
 *   headLength: 5,
 *   packetIdOffset: -1,
 *   payload: Uint8Array.of(0x68, 0x69),
 * };
 * console.log(encoded.headLength + encoded.payload.length); // 7 bytes on the wire
 * ```
 */
export interface EncodedPublish {
  /**
   * Its first `headLength` bytes: fixed header, topic, packet id and properties; the remaining
   * length counts the payload too. (A reused head's buffer may be longer: {@link PublishHead}.)
   */
  head: Uint8Array;
  /** How many bytes of `head` the packet's head is. */
  headLength: number;
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
  if (isPlain(p, level, shared)) {
    const size = plainHeadSize(p, level);
    if (size > 0) {
      const head = new Uint8Array(size);
      return { head, headLength: size, packetIdOffset: writePlainHead(head, p, level), payload: p.payload };
    }
  }
  const sharedLength = level === 5 && shared !== undefined ? shared.length : 0;
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
  return { head: w.buf, headLength: w.buf.length, packetIdOffset, payload: p.payload };
}

const NO_BYTES = new Uint8Array(0);

/**
 * An {@link EncodedPublish} whose head buffer is rewritten by every {@link encode}: for a
 * caller that writes each encoding out before making the next (the router, for each
 * message; a send from the queue). The common head then costs no allocation at all, where
 * a fresh one cost a buffer, its view and the result object (about 300 bytes, per message).
 */
export class PublishHead implements EncodedPublish {
  head: Uint8Array = NO_BYTES;
  headLength = 0;
  packetIdOffset = -1;
  payload: Uint8Array = NO_BYTES;

  /** Encodes `p` here, the same bytes as {@link encodePublish}; the previous encoding is gone. */
  encode(p: PublishPacket, level: ProtocolLevel, shared?: Uint8Array): this {
    const size = isPlain(p, level, shared) ? plainHeadSize(p, level) : -1;
    if (size > 0) {
      // Grown to the largest head seen: a head is a few dozen bytes unless its topic is long.
      if (this.head.length < size) this.head = new Uint8Array(Math.max(size, 64));
      this.packetIdOffset = writePlainHead(this.head, p, level);
      this.headLength = size;
    } else {
      const encoded = encodePublish(p, level, shared);
      if (this.head.length < encoded.headLength) this.head = encoded.head;
      else this.head.set(encoded.head);
      this.packetIdOffset = encoded.packetIdOffset;
      this.headLength = encoded.headLength;
    }
    this.payload = p.payload;
    return this;
  }

  /** Lets go of the payload (a reused head would otherwise keep the last one, however large). */
  release(): void {
    this.payload = NO_BYTES;
  }
}

/** No property bytes to write (always true below level 5). */
function isPlain(p: PublishPacket, level: ProtocolLevel, shared: Uint8Array | undefined): boolean {
  return level < 5 || (p.properties === undefined && (shared === undefined || shared.length === 0));
}

/**
 * The size of the head of a PUBLISH without properties whose topic is ASCII, the common
 * case, which is written without TextEncoder or Writer; -1 for other topics.
 */
function plainHeadSize(p: PublishPacket, level: ProtocolLevel): number {
  const topic = p.topic;
  const n = topic.length;
  for (let i = 0; i < n; i++) if (topic.charCodeAt(i) > 0x7f) return -1;
  const variable = 2 + n + (p.qos > 0 ? 2 : 0) + (level === 5 ? 1 : 0);
  return 1 + varintSize(variable + p.payload.length) + variable;
}

/** Writes the head {@link plainHeadSize} measured at the start of `head`; returns the packet id's offset. */
function writePlainHead(head: Uint8Array, p: PublishPacket, level: ProtocolLevel): number {
  const topic = p.topic;
  const n = topic.length;
  const variable = 2 + n + (p.qos > 0 ? 2 : 0) + (level === 5 ? 1 : 0);
  head[0] = (PacketType.PUBLISH << 4) | (p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0);
  let at = writeVarint(head, 1, variable + p.payload.length);
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
  return packetIdOffset;
}

/** The whole packet in one buffer (copies the payload once). */
export function encodePublishPacket(p: PublishPacket, level: ProtocolLevel): Uint8Array {
  const { head, headLength, payload } = encodePublish(p, level); // (a head of its own: exactly headLength)
  const out = new Uint8Array(headLength + payload.length);
  out.set(head, 0);
  out.set(payload, headLength);
  return out;
}
