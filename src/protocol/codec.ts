/**
 * The codec entry points: decode one framed packet, encode one packet, at a
 * given protocol level. Decoding throws only ProtocolError.
 *
 * @module
 */
import { decodeAck, encodeAck } from "./ack.ts";
import { decodeConnack, decodeConnect, encodeConnack, encodeConnect } from "./connect.ts";
import { decodeReasonPacket, encodeReasonPacket } from "./control.ts";
import { malformed, ProtocolError } from "./errors.ts";
import { type Frame, type Packet, PacketType, type ProtocolLevel, Reason } from "./packet.ts";
import type { PropertyLimits } from "./properties.ts";
import { decodePublish, encodePublishPacket } from "./publish.ts";
import {
  decodeSubackLike,
  decodeSubscribe,
  decodeUnsubscribe,
  encodeSubackLike,
  encodeSubscribe,
  encodeUnsubscribe,
} from "./subscribe.ts";

export { type EncodedPublish, encodePublish } from "./publish.ts";

/** Fixed header flags that each packet type must carry (PUBLISH has its own rules). */
const REQUIRED_FLAGS: readonly number[] = [
  -1, // 0 reserved
  0, // CONNECT
  0, // CONNACK
  -1, // PUBLISH
  0, // PUBACK
  0, // PUBREC
  2, // PUBREL   [MQTT-3.6.1-1]
  0, // PUBCOMP
  2, // SUBSCRIBE [MQTT-3.8.1-1]
  0, // SUBACK
  2, // UNSUBSCRIBE [MQTT-3.10.1-1]
  0, // UNSUBACK
  0, // PINGREQ
  0, // PINGRESP
  0, // DISCONNECT [MQTT-3.14.1-1]
  0, // AUTH [MQTT-3.15.1-1]
];

/**
 * Decodes one frame. For CONNECT the level comes from the packet itself. With `limits`, a
 * property block past them is refused with 0x97 (a PUBLISH with a PublishRefused).
 */
export function decodePacket(frame: Frame, level: ProtocolLevel, limits?: PropertyLimits): Packet {
  const type = frame.header >> 4;
  const flags = frame.header & 0x0f;
  if (type === PacketType.PUBLISH) return decodePublish(frame, level, limits);
  if (type === 0) throw malformed("reserved packet type 0");
  // [MQTT-2.1.3-1] reserved flag bits must hold the values the specification lists.
  if (flags !== REQUIRED_FLAGS[type]) {
    throw malformed(`invalid fixed header flags 0x${flags.toString(16)} for packet type ${type}`);
  }
  try {
    // The acknowledgements (one per QoS 1/2 message) are read in place; the rest from a view.
    if (type >= PacketType.PUBACK && type <= PacketType.PUBCOMP) return decodeAck(frame, level, limits);
    return decodeBody(type, frame.body, level, limits);
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    // Any other failure here is a decoding bug on hostile input: still one connection's problem.
    throw new ProtocolError(Reason.MalformedPacket, `undecodable packet: ${String(err)}`);
  }
}

function decodeBody(type: number, body: Uint8Array, level: ProtocolLevel, limits?: PropertyLimits): Packet {
  switch (type) {
    case PacketType.CONNECT:
      return decodeConnect(body, limits);
    case PacketType.CONNACK:
      return decodeConnack(body, level, limits);
    case PacketType.SUBSCRIBE:
      return decodeSubscribe(body, level, limits);
    case PacketType.SUBACK:
      return decodeSubackLike(PacketType.SUBACK, body, level, limits);
    case PacketType.UNSUBSCRIBE:
      return decodeUnsubscribe(body, level, limits);
    case PacketType.UNSUBACK:
      return decodeSubackLike(PacketType.UNSUBACK, body, level, limits);
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      if (body.length !== 0) throw malformed("PINGREQ/PINGRESP with a body");
      return { type };
    case PacketType.DISCONNECT:
      return decodeReasonPacket(PacketType.DISCONNECT, body, level, limits);
    case PacketType.AUTH:
      if (level < 5) throw malformed("AUTH exists only in MQTT 5");
      return decodeReasonPacket(PacketType.AUTH, body, level, limits);
  }
  throw malformed(`unknown packet type ${type}`);
}

/** Encodes one packet at `level` (CONNECT uses its own protocolLevel). */
export function encodePacket(packet: Packet, level: ProtocolLevel): Uint8Array {
  switch (packet.type) {
    case PacketType.CONNECT:
      return encodeConnect(packet);
    case PacketType.CONNACK:
      return encodeConnack(packet, level);
    case PacketType.PUBLISH:
      return encodePublishPacket(packet, level);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return encodeAck(packet, level);
    case PacketType.SUBSCRIBE:
      return encodeSubscribe(packet, level);
    case PacketType.SUBACK:
    case PacketType.UNSUBACK:
      return encodeSubackLike(packet, level);
    case PacketType.UNSUBSCRIBE:
      return encodeUnsubscribe(packet, level);
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      return new Uint8Array([packet.type << 4, 0]);
    case PacketType.DISCONNECT:
    case PacketType.AUTH:
      return encodeReasonPacket(packet, level);
  }
}
