/**
 * CONNECT and CONNACK for protocol levels 3, 4 and 5, in one code path.
 *
 * @module
 */
import { malformed, protocolError } from "./errors.ts";
import {
  type ConnackPacket,
  type ConnectPacket,
  PacketType,
  type ProtocolLevel,
  type QoS,
  Reason,
  type WillMessage,
} from "./packet.ts";
import {
  encodeProperties,
  propertiesSize,
  type PropertyLimits,
  readProperties,
  WILL_PROPERTIES,
} from "./properties.ts";
import { Reader } from "./reader.ts";
import { utf8Bytes, varintSize, Writer } from "./writer.ts";

const FLAG_USERNAME = 0x80;
const FLAG_PASSWORD = 0x40;
const FLAG_WILL_RETAIN = 0x20;
const FLAG_WILL = 0x04;
const FLAG_CLEAN = 0x02;
const FLAG_RESERVED = 0x01;

/** Protocol name and level: "MQIsdp"/3 for 3.1, "MQTT"/4 or 5 otherwise; 0x80 is Mosquitto's bridge bit. */
function readProtocol(r: Reader): { name: string; level: ProtocolLevel; bridge: boolean } {
  const name = r.utf8("protocol name");
  const raw = r.u8("protocol level");
  const bridge = (raw & 0x80) !== 0;
  const level = raw & 0x7f;
  const known = (name === "MQIsdp" && level === 3) || (name === "MQTT" && (level === 4 || level === 5));
  if (!known) {
    throw protocolError(
      Reason.UnsupportedProtocolVersion,
      `unsupported protocol ${JSON.stringify(name)} level ${level}`,
    );
  }
  return { name, level: level as ProtocolLevel, bridge };
}

export function decodeConnect(body: Uint8Array, limits?: PropertyLimits): ConnectPacket {
  const r = new Reader(body);
  const { name, level, bridge } = readProtocol(r);
  const flags = r.u8("connect flags");
  // [MQTT-3.1.2-3] the reserved flag must be 0.
  if (flags & FLAG_RESERVED) throw malformed("CONNECT reserved flag is set");
  const willQos = (flags >> 3) & 0x03;
  const hasWill = (flags & FLAG_WILL) !== 0;
  if (!hasWill && (willQos !== 0 || (flags & FLAG_WILL_RETAIN))) {
    // [MQTT-3.1.2-11] [MQTT-3.1.2-13] without a will, will QoS and will retain must be 0.
    throw malformed("will QoS or will retain set without the will flag");
  }
  if (willQos === 3) throw malformed("will QoS 3");
  // [MQTT-3.1.2-22] 3.1.1: a password requires a user name (5.0 allows it alone).
  if (level < 5 && (flags & FLAG_PASSWORD) && !(flags & FLAG_USERNAME)) {
    throw malformed("password flag without user name flag");
  }
  const keepAlive = r.u16("keep alive");
  const properties = level === 5 ? readProperties(r, PacketType.CONNECT, limits) : undefined;
  const clientId = r.utf8("client identifier");
  let will: WillMessage | undefined;
  if (hasWill) {
    const willProperties = level === 5 ? readProperties(r, WILL_PROPERTIES, limits) : undefined;
    const topic = r.utf8("will topic");
    const payload = r.binary("will payload");
    will = {
      topic,
      payload,
      qos: willQos as QoS,
      retain: (flags & FLAG_WILL_RETAIN) !== 0,
    };
    if (willProperties !== undefined) will.properties = willProperties;
  }
  const username = flags & FLAG_USERNAME ? r.utf8("user name") : undefined;
  const password = flags & FLAG_PASSWORD ? r.binary("password") : undefined;
  if (r.remaining !== 0) throw malformed("unexpected bytes after the CONNECT payload");
  const packet: ConnectPacket = {
    type: PacketType.CONNECT,
    protocolName: name,
    protocolLevel: level,
    clean: (flags & FLAG_CLEAN) !== 0,
    keepAlive,
    clientId,
  };
  if (bridge) packet.bridge = true;
  if (username !== undefined) packet.username = username;
  if (password !== undefined) packet.password = password;
  if (will !== undefined) packet.will = will;
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

export function encodeConnect(p: ConnectPacket): Uint8Array {
  const v5 = p.protocolLevel === 5;
  const name = utf8Bytes(p.protocolName);
  const clientId = utf8Bytes(p.clientId);
  const props = v5 ? encodeProperties(p.properties, PacketType.CONNECT) : undefined;
  const willProps = v5 && p.will ? encodeProperties(p.will.properties, WILL_PROPERTIES) : undefined;
  const willTopic = p.will ? utf8Bytes(p.will.topic) : undefined;
  const username = p.username !== undefined ? utf8Bytes(p.username) : undefined;
  let size = 2 + name.length + 1 + 1 + 2 + 2 + clientId.length;
  if (props) size += propertiesSize(props);
  if (p.will) {
    size += (willProps ? propertiesSize(willProps) : 0) + 2 + willTopic!.length + 2 + p.will.payload.length;
  }
  if (username) size += 2 + username.length;
  if (p.password) size += 2 + p.password.length;
  let flags = 0;
  if (p.clean) flags |= FLAG_CLEAN;
  if (p.will) flags |= FLAG_WILL | (p.will.qos << 3) | (p.will.retain ? FLAG_WILL_RETAIN : 0);
  if (username) flags |= FLAG_USERNAME;
  if (p.password) flags |= FLAG_PASSWORD;
  const w = new Writer(1 + varintSize(size) + size);
  w.u8(PacketType.CONNECT << 4);
  w.varint(size);
  w.prefixed(name);
  w.u8(p.protocolLevel | (p.bridge ? 0x80 : 0));
  w.u8(flags);
  w.u16(p.keepAlive);
  props?.write(w);
  w.prefixed(clientId);
  if (p.will) {
    willProps?.write(w);
    w.prefixed(willTopic!);
    w.prefixed(p.will.payload);
  }
  if (username) w.prefixed(username);
  if (p.password) w.prefixed(p.password);
  return w.buf;
}

export function decodeConnack(
  body: Uint8Array,
  level: ProtocolLevel,
  limits?: PropertyLimits,
): ConnackPacket {
  const r = new Reader(body);
  const flags = r.u8("acknowledge flags");
  // [MQTT-3.2.2-1] bits 7-1 of the acknowledge flags are reserved.
  if (flags & 0xfe) throw malformed("CONNACK reserved flags set");
  const reasonCode = r.u8("reason code");
  const properties = level === 5 ? readProperties(r, PacketType.CONNACK, limits) : undefined;
  if (r.remaining !== 0) throw malformed("unexpected bytes after CONNACK");
  const packet: ConnackPacket = { type: PacketType.CONNACK, sessionPresent: (flags & 1) === 1, reasonCode };
  if (properties) packet.properties = properties;
  return packet;
}

export function encodeConnack(p: ConnackPacket, level: ProtocolLevel): Uint8Array {
  const props = level === 5 ? encodeProperties(p.properties, PacketType.CONNACK) : undefined;
  const size = 2 + (props ? propertiesSize(props) : 0);
  const w = new Writer(1 + varintSize(size) + size);
  w.u8(PacketType.CONNACK << 4);
  w.varint(size);
  w.u8(p.sessionPresent ? 1 : 0);
  w.u8(p.reasonCode);
  props?.write(w);
  return w.buf;
}
