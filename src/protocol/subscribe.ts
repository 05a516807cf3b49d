/**
 * SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK for all protocol levels.
 *
 * @module
 */
import { malformed, protocolError } from "./errors.ts";
import {
  PacketType,
  type ProtocolLevel,
  type QoS,
  Reason,
  type SubackPacket,
  type SubscribePacket,
  type SubscriptionRequest,
  type UnsubackPacket,
  type UnsubscribePacket,
} from "./packet.ts";
import { encodeProperties, propertiesSize, type PropertyLimits, readProperties } from "./properties.ts";
import { Reader } from "./reader.ts";
import { utf8Bytes, varintSize, Writer } from "./writer.ts";

function readPacketId(r: Reader, what: string): number {
  const id = r.u16("packet identifier");
  // [MQTT-2.2.1-3] SUBSCRIBE and UNSUBSCRIBE need a non-zero packet identifier.
  if (id === 0) throw protocolError(Reason.ProtocolError, `${what} with packet identifier 0`);
  return id;
}

export function decodeSubscribe(
  body: Uint8Array,
  level: ProtocolLevel,
  limits?: PropertyLimits,
): SubscribePacket {
  const r = new Reader(body);
  const packetId = readPacketId(r, "SUBSCRIBE");
  const properties = level === 5 ? readProperties(r, PacketType.SUBSCRIBE, limits) : undefined;
  const subscriptions: SubscriptionRequest[] = [];
  while (r.remaining > 0) {
    const filter = r.utf8("topic filter");
    const options = r.u8("subscription options");
    // [MQTT-3.8.3-5] reserved bits must be 0 (3.1.1: bits 7-2).
    if (level === 5 ? options & 0xc0 : options & 0xfc) {
      throw malformed("reserved subscription option bits set");
    }
    const qos = options & 0x03;
    if (qos === 3) throw malformed("subscription with QoS 3");
    const retainHandling = (options >> 4) & 0x03;
    if (retainHandling === 3) throw protocolError(Reason.ProtocolError, "retain handling 3");
    subscriptions.push({
      filter,
      qos: qos as QoS,
      noLocal: (options & 0x04) !== 0,
      retainAsPublished: (options & 0x08) !== 0,
      retainHandling: retainHandling as 0 | 1 | 2,
    });
  }
  // [MQTT-3.8.3-2] at least one topic filter.
  if (subscriptions.length === 0) {
    throw protocolError(Reason.ProtocolError, "SUBSCRIBE without topic filters");
  }
  const packet: SubscribePacket = { type: PacketType.SUBSCRIBE, packetId, subscriptions };
  if (properties) packet.properties = properties;
  return packet;
}

export function encodeSubscribe(p: SubscribePacket, level: ProtocolLevel): Uint8Array {
  const props = level === 5 ? encodeProperties(p.properties, PacketType.SUBSCRIBE) : undefined;
  const filters = p.subscriptions.map((s) => utf8Bytes(s.filter));
  let size = 2 + (props ? propertiesSize(props) : 0);
  for (const f of filters) size += 2 + f.length + 1;
  const w = new Writer(1 + varintSize(size) + size);
  w.u8((PacketType.SUBSCRIBE << 4) | 0x02);
  w.varint(size);
  w.u16(p.packetId);
  props?.write(w);
  p.subscriptions.forEach((s, i) => {
    w.prefixed(filters[i]);
    let options = s.qos;
    if (level === 5) {
      options |= (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | (s.retainHandling << 4);
    }
    w.u8(options);
  });
  return w.buf;
}

export function decodeUnsubscribe(
  body: Uint8Array,
  level: ProtocolLevel,
  limits?: PropertyLimits,
): UnsubscribePacket {
  const r = new Reader(body);
  const packetId = readPacketId(r, "UNSUBSCRIBE");
  const properties = level === 5 ? readProperties(r, PacketType.UNSUBSCRIBE, limits) : undefined;
  const filters: string[] = [];
  while (r.remaining > 0) filters.push(r.utf8("topic filter"));
  // [MQTT-3.10.3-2] at least one topic filter.
  if (filters.length === 0) throw protocolError(Reason.ProtocolError, "UNSUBSCRIBE without topic filters");
  const packet: UnsubscribePacket = { type: PacketType.UNSUBSCRIBE, packetId, filters };
  if (properties) packet.properties = properties;
  return packet;
}

export function encodeUnsubscribe(p: UnsubscribePacket, level: ProtocolLevel): Uint8Array {
  const props = level === 5 ? encodeProperties(p.properties, PacketType.UNSUBSCRIBE) : undefined;
  const filters = p.filters.map(utf8Bytes);
  let size = 2 + (props ? propertiesSize(props) : 0);
  for (const f of filters) size += 2 + f.length;
  const w = new Writer(1 + varintSize(size) + size);
  w.u8((PacketType.UNSUBSCRIBE << 4) | 0x02);
  w.varint(size);
  w.u16(p.packetId);
  props?.write(w);
  for (const f of filters) w.prefixed(f);
  return w.buf;
}

/** SUBACK and UNSUBACK: a packet id, properties (v5) and a list of codes. */
export function decodeSubackLike<T extends SubackPacket | UnsubackPacket>(
  type: T["type"],
  body: Uint8Array,
  level: ProtocolLevel,
  limits?: PropertyLimits,
): T {
  const r = new Reader(body);
  const packetId = r.u16("packet identifier");
  const properties = level === 5 ? readProperties(r, type, limits) : undefined;
  const reasonCodes: number[] = [];
  while (r.remaining > 0) reasonCodes.push(r.u8("reason code"));
  if (type === PacketType.SUBACK && reasonCodes.length === 0) throw malformed("SUBACK without reason codes");
  const packet = { type, packetId, reasonCodes } as T;
  if (properties) packet.properties = properties;
  return packet;
}

export function encodeSubackLike(p: SubackPacket | UnsubackPacket, level: ProtocolLevel): Uint8Array {
  const props = level === 5 ? encodeProperties(p.properties, p.type) : undefined;
  // 3.x UNSUBACK carries no codes.
  const codes = p.type === PacketType.UNSUBACK && level < 5 ? [] : p.reasonCodes;
  const size = 2 + (props ? propertiesSize(props) : 0) + codes.length;
  const w = new Writer(1 + varintSize(size) + size);
  w.u8(p.type << 4);
  w.varint(size);
  w.u16(p.packetId);
  props?.write(w);
  for (const c of codes) w.u8(c);
  return w.buf;
}
