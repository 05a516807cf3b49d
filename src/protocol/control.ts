/**
 * PINGREQ, PINGRESP, DISCONNECT and AUTH.
 *
 * @module
 */
import { malformed } from "./errors.ts";
import { type AuthPacket, type DisconnectPacket, PacketType, type ProtocolLevel } from "./packet.ts";
import { encodeProperties, propertiesSize, type PropertyLimits, readProperties } from "./properties.ts";
import { Reader } from "./reader.ts";
import { varintSize, Writer } from "./writer.ts";

/** DISCONNECT and AUTH: an optional reason code and properties (v5); empty in 3.x. */
export function decodeReasonPacket<T extends DisconnectPacket | AuthPacket>(
  type: T["type"],
  body: Uint8Array,
  level: ProtocolLevel,
  limits?: PropertyLimits,
): T {
  const packet = { type, reasonCode: 0 } as T;
  if (level < 5) {
    if (body.length !== 0) throw malformed("DISCONNECT with a body in MQTT 3.x");
    return packet;
  }
  // A remaining length of 0 means reason 0x00 and no properties.
  const r = new Reader(body);
  if (r.remaining > 0) packet.reasonCode = r.u8("reason code");
  if (r.remaining > 0) {
    const properties = readProperties(r, type, limits);
    if (properties) packet.properties = properties;
  }
  if (r.remaining !== 0) throw malformed("unexpected bytes after the properties");
  return packet;
}

export function encodeReasonPacket(p: DisconnectPacket | AuthPacket, level: ProtocolLevel): Uint8Array {
  if (level < 5) return new Uint8Array([p.type << 4, 0]);
  const props = encodeProperties(p.properties, p.type);
  const short = p.reasonCode === 0 && props.length === 0;
  // A DISCONNECT with a reason and no properties leaves out the Property Length (it reads as 0):
  // three bytes, which fit where four would not (a client's small Maximum Packet Size).
  const bare = p.type === PacketType.DISCONNECT && props.length === 0;
  const size = short ? 0 : bare ? 1 : 1 + propertiesSize(props);
  const w = new Writer(1 + varintSize(size) + size);
  w.u8(p.type << 4);
  w.varint(size);
  if (!short) {
    w.u8(p.reasonCode);
    if (!bare) props.write(w);
  }
  return w.buf;
}
