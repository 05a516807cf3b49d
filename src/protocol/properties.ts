/**
 * MQTT 5 properties: one table of identifier → name, wire type and the packets
 * that may carry it. Decoding enforces the table (unknown id: malformed; not
 * allowed here or repeated: protocol error); encoding writes what is set.
 *
 * @module
 */
import { malformed, protocolError } from "./errors.ts";
import { PacketType, type Properties, Reason } from "./packet.ts";
import type { Reader } from "./reader.ts";
import { utf8Length, varintSize, Writer } from "./writer.ts";

type WireType = "byte" | "u16" | "u32" | "varint" | "utf8" | "binary" | "pair";

/** Pseudo packet type for the will properties inside CONNECT. */
export const WILL_PROPERTIES = 0;

const P = PacketType;
const ACKS = [P.PUBACK, P.PUBREC, P.PUBREL, P.PUBCOMP];
const ALL = [
  P.CONNECT,
  P.CONNACK,
  P.PUBLISH,
  WILL_PROPERTIES,
  ...ACKS,
  P.SUBSCRIBE,
  P.SUBACK,
  P.UNSUBSCRIBE,
  P.UNSUBACK,
  P.DISCONNECT,
  P.AUTH,
];

interface PropertyDef {
  id: number;
  name: keyof Properties;
  type: WireType;
  packets: ReadonlySet<number>;
}

function def(id: number, name: keyof Properties, type: WireType, packets: number[]): PropertyDef {
  return { id, name, type, packets: new Set(packets) };
}

/** The property table of MQTT 5.0, section 2.2.2.2. */
export const PROPERTY_DEFS: readonly PropertyDef[] = [
  def(0x01, "payloadFormatIndicator", "byte", [P.PUBLISH, WILL_PROPERTIES]),
  def(0x02, "messageExpiryInterval", "u32", [P.PUBLISH, WILL_PROPERTIES]),
  def(0x03, "contentType", "utf8", [P.PUBLISH, WILL_PROPERTIES]),
  def(0x08, "responseTopic", "utf8", [P.PUBLISH, WILL_PROPERTIES]),
  def(0x09, "correlationData", "binary", [P.PUBLISH, WILL_PROPERTIES]),
  def(0x0b, "subscriptionIdentifiers", "varint", [P.PUBLISH, P.SUBSCRIBE]),
  def(0x11, "sessionExpiryInterval", "u32", [P.CONNECT, P.CONNACK, P.DISCONNECT]),
  def(0x12, "assignedClientIdentifier", "utf8", [P.CONNACK]),
  def(0x13, "serverKeepAlive", "u16", [P.CONNACK]),
  def(0x15, "authenticationMethod", "utf8", [P.CONNECT, P.CONNACK, P.AUTH]),
  def(0x16, "authenticationData", "binary", [P.CONNECT, P.CONNACK, P.AUTH]),
  def(0x17, "requestProblemInformation", "byte", [P.CONNECT]),
  def(0x18, "willDelayInterval", "u32", [WILL_PROPERTIES]),
  def(0x19, "requestResponseInformation", "byte", [P.CONNECT]),
  def(0x1a, "responseInformation", "utf8", [P.CONNACK]),
  def(0x1c, "serverReference", "utf8", [P.CONNACK, P.DISCONNECT]),
  def(0x1f, "reasonString", "utf8", [P.CONNACK, ...ACKS, P.SUBACK, P.UNSUBACK, P.DISCONNECT, P.AUTH]),
  def(0x21, "receiveMaximum", "u16", [P.CONNECT, P.CONNACK]),
  def(0x22, "topicAliasMaximum", "u16", [P.CONNECT, P.CONNACK]),
  def(0x23, "topicAlias", "u16", [P.PUBLISH]),
  def(0x24, "maximumQoS", "byte", [P.CONNACK]),
  def(0x25, "retainAvailable", "byte", [P.CONNACK]),
  def(0x26, "userProperties", "pair", ALL),
  def(0x27, "maximumPacketSize", "u32", [P.CONNECT, P.CONNACK]),
  def(0x28, "wildcardSubscriptionAvailable", "byte", [P.CONNACK]),
  def(0x29, "subscriptionIdentifiersAvailable", "byte", [P.CONNACK]),
  def(0x2a, "sharedSubscriptionAvailable", "byte", [P.CONNACK]),
];

const BY_ID: (PropertyDef | undefined)[] = [];
const BY_NAME = new Map<string, PropertyDef>();
for (const d of PROPERTY_DEFS) {
  BY_ID[d.id] = d;
  BY_NAME.set(d.name, d);
}

/** Properties whose value must be 0 or 1. */
const BOOLEAN_BYTES = new Set<keyof Properties>([
  "payloadFormatIndicator",
  "requestProblemInformation",
  "requestResponseInformation",
  "maximumQoS",
  "retainAvailable",
  "wildcardSubscriptionAvailable",
  "subscriptionIdentifiersAvailable",
  "sharedSubscriptionAvailable",
]);

/** Checks the value constraints the specification puts on single properties. */
function checkValue(d: PropertyDef, value: number): void {
  if (BOOLEAN_BYTES.has(d.name) && value > 1) {
    throw protocolError(Reason.ProtocolError, `property ${d.name} must be 0 or 1, got ${value}`);
  }
  if ((d.name === "receiveMaximum" || d.name === "maximumPacketSize") && value === 0) {
    throw protocolError(Reason.ProtocolError, `property ${d.name} must not be 0`);
  }
  if (d.name === "subscriptionIdentifiers" && value === 0) {
    throw protocolError(Reason.ProtocolError, "subscription identifier must not be 0");
  }
}

/**
 * Bounds on one property block, checked while it is decoded and before anything is allocated
 * for a property: a block is at most as long as its packet, and user properties may repeat
 * without end, each costing far more decoded than its 5 bytes on the wire.
 */
export interface PropertyLimits {
  /** User properties in one property block. */
  maxUserProperties: number;
  /** Bytes of one property block (its Property Length). */
  maxPropertyBytes: number;
}

/**
 * Reads a property block (length + properties) for packet `packetType`. Past `limits` it
 * throws 0x97 Quota exceeded: such a block is well formed, so neither 0x81 Malformed nor
 * 0x82 Protocol error describes it, and it may be well below the Maximum Packet Size (0x95);
 * the specification's reason for "an implementation or administrative imposed limit has been
 * exceeded" is 0x97 (MQTT 5.0, 2.4 Reason Code).
 */
export function readProperties(
  r: Reader,
  packetType: number,
  limits?: PropertyLimits,
): Properties | undefined {
  const length = r.varint("property length");
  if (length === 0) return undefined;
  if (length > r.remaining) throw malformed("property length exceeds the packet");
  if (limits !== undefined && length > limits.maxPropertyBytes) {
    throw protocolError(
      Reason.QuotaExceeded,
      `properties of ${length} bytes exceed the limit of ${limits.maxPropertyBytes}`,
    );
  }
  const maxUserProperties = limits?.maxUserProperties ?? Infinity;
  let userProperties = 0;
  const end = r.pos + length;
  const props: Properties = {};
  const seen = new Set<number>();
  while (r.pos < end) {
    const id = r.varint("property identifier");
    const d = BY_ID[id];
    if (d === undefined) throw malformed(`unknown property identifier 0x${id.toString(16)}`);
    if (!d.packets.has(packetType)) {
      throw protocolError(Reason.ProtocolError, `property ${d.name} is not allowed in this packet`);
    }
    const repeatable = d.type === "pair" ||
      (d.name === "subscriptionIdentifiers" && packetType === P.PUBLISH);
    if (seen.has(id) && !repeatable) {
      throw protocolError(Reason.ProtocolError, `property ${d.name} appears twice`);
    }
    if (d.type === "pair" && ++userProperties > maxUserProperties) {
      throw protocolError(Reason.QuotaExceeded, `more than ${maxUserProperties} user properties`);
    }
    seen.add(id);
    readOne(r, d, props);
  }
  if (r.pos !== end) throw malformed("property length does not match the properties");
  return props;
}

function readOne(r: Reader, d: PropertyDef, props: Properties): void {
  const bag = props as Record<string, unknown>;
  switch (d.type) {
    case "byte":
    case "u16":
    case "u32": {
      const v = d.type === "byte" ? r.u8(d.name) : d.type === "u16" ? r.u16(d.name) : r.u32(d.name);
      checkValue(d, v);
      bag[d.name] = v;
      return;
    }
    case "varint": {
      const v = r.varint(d.name);
      checkValue(d, v);
      (props.subscriptionIdentifiers ??= []).push(v);
      return;
    }
    case "utf8":
      bag[d.name] = r.utf8(d.name);
      return;
    case "binary":
      bag[d.name] = r.binary(d.name);
      return;
    case "pair":
      (props.userProperties ??= []).push([r.utf8("user property name"), r.utf8("user property value")]);
      return;
  }
}

/** Pre-encoded property block: its size is known before writing. */
export interface EncodedProperties {
  /** Size of the property bytes, without the length prefix. */
  readonly length: number;
  /** Writes the length prefix and the properties. */
  write(w: Writer): void;
  /** Writes the properties alone (a caller that writes its own length prefix). */
  writeBody(w: Writer): void;
}

const EMPTY: EncodedProperties = { length: 0, write: (w) => w.u8(0), writeBody: () => {} };

/**
 * Sizes the properties that are set, to be written later by {@link EncodedProperties.write}
 * straight into the packet: nothing is allocated per property (strings are measured here
 * and encoded in place). Unknown names are a programmer error.
 */
export function encodeProperties(props: Properties | undefined, packetType: number): EncodedProperties {
  if (props === undefined) return EMPTY;
  const length = propertiesLength(props, packetType);
  if (length === 0) return EMPTY;
  return {
    length,
    write(w) {
      w.varint(length);
      writeProperties(w, props, packetType);
    },
    writeBody(w) {
      writeProperties(w, props, packetType);
    },
  };
}

/**
 * The property bytes of `props` (without their length prefix) in one buffer: for properties
 * encoded once and then copied into many packets (a PUBLISH going to many subscribers).
 */
export function propertyBytes(props: Properties, packetType: number): Uint8Array {
  const w = new Writer(propertiesLength(props, packetType));
  writeProperties(w, props, packetType);
  return w.buf;
}

function definition(name: string): PropertyDef {
  const d = BY_NAME.get(name);
  if (d === undefined) throw new TypeError(`unknown property ${name}`);
  return d;
}

/** Bytes of the properties set in `props` that `packetType` carries (others are dropped, never sent). */
function propertiesLength(props: Properties, packetType: number): number {
  let length = 0;
  for (const name in props) {
    const value = (props as Record<string, unknown>)[name];
    if (value === undefined) continue;
    const d = definition(name);
    if (d.packets.has(packetType)) length += sizeOf(d, value);
  }
  return length;
}

function sizeOf(d: PropertyDef, value: unknown): number {
  switch (d.type) {
    case "byte":
      return 2;
    case "u16":
      return 3;
    case "u32":
      return 5;
    case "varint": {
      let size = 0;
      for (const v of value as number[]) size += 1 + varintSize(v);
      return size;
    }
    case "utf8":
      return 3 + utf8Length(value as string);
    case "binary":
      return 3 + (value as Uint8Array).length;
    case "pair": {
      let size = 0;
      for (const [k, v] of value as [string, string][]) size += 5 + utf8Length(k) + utf8Length(v);
      return size;
    }
  }
}

function writeProperties(w: Writer, props: Properties, packetType: number): void {
  for (const name in props) {
    const value = (props as Record<string, unknown>)[name];
    if (value === undefined) continue;
    const d = definition(name);
    if (d.packets.has(packetType)) writeOne(w, d, value);
  }
}

function writeOne(w: Writer, d: PropertyDef, value: unknown): void {
  const id = d.id;
  switch (d.type) {
    case "byte":
      w.u8(id);
      w.u8(value as number);
      return;
    case "u16":
      w.u8(id);
      w.u16(value as number);
      return;
    case "u32":
      w.u8(id);
      w.u32(value as number);
      return;
    case "varint":
      for (const v of value as number[]) {
        w.u8(id);
        w.varint(v);
      }
      return;
    case "utf8":
      w.u8(id);
      w.utf8(value as string, utf8Length(value as string));
      return;
    case "binary":
      w.u8(id);
      w.prefixed(value as Uint8Array);
      return;
    case "pair":
      for (const [k, v] of value as [string, string][]) {
        w.u8(id);
        w.utf8(k, utf8Length(k));
        w.utf8(v, utf8Length(v));
      }
      return;
  }
}

/** Total bytes of a property block including its length prefix. */
export function propertiesSize(p: EncodedProperties): number {
  return varintSize(p.length) + p.length;
}
