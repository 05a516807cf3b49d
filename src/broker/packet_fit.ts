/**
 * Fitting the broker's own packets (everything but PUBLISH, see delivery.ts)
 * to the Maximum Packet Size a v5 client declared: what may be left out is left
 * out, smallest harm first, and a packet that cannot fit even then is not sent
 * at all [MQTT-3.1.2-24].
 *
 * @module
 */
import { encodePacket } from "../protocol/codec.ts";
import { type Packet, PacketType, type Properties, type ProtocolLevel } from "../protocol/packet.ts";

/**
 * CONNACK properties the broker may leave out without misleading the client: they grant
 * something (aliases), answer an optional request (response information) or only inform.
 * The rest must stay: a client that never learnt the broker's limits (Receive Maximum,
 * Maximum QoS, Maximum Packet Size, what is unavailable) or its Server Keep Alive would break
 * them, and an Assigned Client Identifier [MQTT-3.2.2-16] or the Authentication Method
 * [MQTT-4.12.0-5] is owed to it.
 */
const OPTIONAL_CONNACK: readonly (keyof Properties)[] = [
  "topicAliasMaximum",
  "responseInformation",
  "serverReference",
];

/** The packet as encoded, when it fits; `packet` says what was actually left in. */
export interface Fitted {
  packet: Packet;
  bytes: Uint8Array;
}

/**
 * Encodes `packet` within `max` bytes: whole if it fits; else without its Reason String and
 * User Properties, which the specification lets the sender drop for this: [MQTT-3.2.2-19]
 * [MQTT-3.2.2-20] CONNACK, [MQTT-3.4.2-2] [MQTT-3.4.2-3] PUBACK and the other acks,
 * [MQTT-3.14.2-3] [MQTT-3.14.2-4] DISCONNECT; a CONNACK then also without its optional
 * properties. Null when even that does not fit.
 */
export function fitPacket(packet: Packet, level: ProtocolLevel, max: number): Fitted | null {
  const bytes = encodePacket(packet, level);
  if (bytes.length <= max) return { packet, bytes };
  const props = (packet as { properties?: Properties }).properties;
  if (props === undefined) return null;
  const rest: Properties = { ...props };
  delete rest.reasonString;
  delete rest.userProperties;
  let fitted = tryWith(packet, rest, level, max);
  if (fitted === null && packet.type === PacketType.CONNACK) {
    for (const name of OPTIONAL_CONNACK) delete rest[name];
    fitted = tryWith(packet, rest, level, max);
  }
  return fitted;
}

function tryWith(packet: Packet, props: Properties, level: ProtocolLevel, max: number): Fitted | null {
  const properties = Object.keys(props).length > 0 ? { ...props } : undefined;
  const smaller = { ...packet, properties } as Packet;
  const bytes = encodePacket(smaller, level);
  return bytes.length <= max ? { packet: smaller, bytes } : null;
}
