/**
 * PUBACK, PUBREC, PUBREL and PUBCOMP: one shape, one code path.
 *
 * @module
 */
import { malformed, protocolError } from "./errors.ts";
import { type AckPacket, type Frame, PacketType, type ProtocolLevel, Reason } from "./packet.ts";
import { encodeProperties, propertiesSize, type PropertyLimits, readProperties } from "./properties.ts";
import { Reader } from "./reader.ts";
import { varintSize, Writer } from "./writer.ts";

/** Decodes an acknowledgement frame (its type from the header; the flags are the caller's to check). */
export function decodeAck(frame: Frame, level: ProtocolLevel, limits?: PropertyLimits): AckPacket {
  const type = (frame.header >> 4) as AckPacket["type"];
  const { bytes, start, end } = frame;
  if (end - start < 2) throw malformed("packet too short: packet identifier truncated");
  const packetId = (bytes[start] << 8) | bytes[start + 1];
  // [MQTT-2.2.1-5] acknowledgements carry the non-zero id of the PUBLISH they answer.
  if (packetId === 0) throw protocolError(Reason.ProtocolError, "acknowledgement with packet identifier 0");
  const packet: AckPacket = { type, packetId, reasonCode: 0 };
  // The common acknowledgement is these two bytes: no cursor needed.
  if (end - start === 2) return packet;
  if (level < 5) throw malformed("unexpected bytes after the acknowledgement");
  // (A remaining length of 2 means reason 0x00 and no properties.)
  const r = new Reader(bytes, start + 2, end);
  packet.reasonCode = r.u8("reason code");
  if (r.remaining > 0) {
    const properties = readProperties(r, type, limits);
    if (properties) packet.properties = properties;
  }
  if (r.remaining !== 0) throw malformed("unexpected bytes after the acknowledgement");
  return packet;
}

export function encodeAck(p: AckPacket, level: ProtocolLevel): Uint8Array {
  const flags = p.type === PacketType.PUBREL ? 0x02 : 0x00;
  const props = level === 5 ? encodeProperties(p.properties, p.type) : undefined;
  const long = level === 5 && (p.reasonCode !== 0 || (props !== undefined && props.length > 0));
  // A reason code without properties leaves out the Property Length (it reads as 0).
  const bare = long && props!.length === 0;
  const size = 2 + (long ? (bare ? 1 : 1 + propertiesSize(props!)) : 0);
  const w = new Writer(1 + varintSize(size) + size);
  w.u8((p.type << 4) | flags);
  w.varint(size);
  w.u16(p.packetId);
  if (long) {
    w.u8(p.reasonCode);
    if (!bare) props!.write(w);
  }
  return w.buf;
}
