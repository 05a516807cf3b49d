/**
 * A tiny MQTT 3.1.1 / 5.0 encoder and frame scanner for the load generator.
 * It is deliberately separate from src/protocol: the load tool measures any
 * broker, including this one, and must not share its codec's bugs.
 */

/** Fixed-header first bytes (type << 4 | flags) of the packets the generator sends or reads. */
export const Header = {
  CONNECT: 0x10,
  CONNACK: 0x20,
  PUBLISH: 0x30,
  PUBACK: 0x40,
  PUBREC: 0x50,
  PUBREL: 0x62, // PUBREL carries the fixed flags 0010
  PUBCOMP: 0x70,
  SUBSCRIBE: 0x82, // SUBSCRIBE carries the fixed flags 0010
  SUBACK: 0x90,
  PINGREQ: 0xc0,
  PINGRESP: 0xd0,
  DISCONNECT: 0xe0,
} as const;

export type ProtoLevel = 4 | 5;
export type Qos = 0 | 1 | 2;

const utf8 = new TextEncoder();

/** Bytes of a variable byte integer (remaining length, property length). */
export function varint(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}

function str(s: string): number[] {
  const b = utf8.encode(s);
  return [b.length >> 8, b.length & 0xff, ...b];
}

function packet(first: number, body: number[]): Uint8Array {
  return Uint8Array.from([first, ...varint(body.length), ...body]);
}

/** CONNECT with a client id, clean start and keep-alive; v5 adds a session expiry when not clean. */
export function encodeConnect(
  level: ProtoLevel,
  o: { clientId: string; clean: boolean; keepAlive: number; sessionExpiry?: number },
): Uint8Array {
  const flags = o.clean ? 0x02 : 0x00;
  const body = [...str("MQTT"), level, flags, o.keepAlive >> 8, o.keepAlive & 0xff];
  if (level === 5) {
    // Property 0x11 is the four-byte session expiry interval.
    const e = o.sessionExpiry ?? 0;
    body.push(...(e > 0 ? [5, 0x11, e >>> 24, (e >> 16) & 0xff, (e >> 8) & 0xff, e & 0xff] : [0]));
  }
  return packet(Header.CONNECT, [...body, ...str(o.clientId)]);
}

/** SUBSCRIBE to one filter at the given maximum QoS. */
export function encodeSubscribe(level: ProtoLevel, packetId: number, filter: string, qos: Qos): Uint8Array {
  const props = level === 5 ? [0] : [];
  return packet(Header.SUBSCRIBE, [packetId >> 8, packetId & 0xff, ...props, ...str(filter), qos]);
}

/** A two-byte acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP); v5 reads a missing reason code as success. */
export function encodeAck(first: number, packetId: number): Uint8Array {
  return Uint8Array.of(first, 2, packetId >> 8, packetId & 0xff);
}

/** Writes a two-byte acknowledgement into `buf` at `at` without allocating. */
export function writeAck(buf: Uint8Array, at: number, first: number, packetId: number): void {
  buf[at] = first;
  buf[at + 1] = 2;
  buf[at + 2] = packetId >> 8;
  buf[at + 3] = packetId & 0xff;
}

export const PINGREQ = Uint8Array.of(Header.PINGREQ, 0);
export const DISCONNECT = Uint8Array.of(Header.DISCONNECT, 0);

/** A pre-encoded PUBLISH whose packet id and payload bytes are patched in place per message. */
export interface PublishTemplate {
  bytes: Uint8Array;
  /** Offset of the two-byte packet id, or -1 at QoS 0. */
  packetIdAt: number;
  /** Offset of the first payload byte. */
  payloadAt: number;
}

/** Encodes one PUBLISH with a zero-filled payload of `size` bytes. */
export function publishTemplate(level: ProtoLevel, topic: string, qos: Qos, size: number): PublishTemplate {
  const head = [...str(topic)];
  const packetIdAt = qos > 0 ? head.length : -1;
  if (qos > 0) head.push(0, 1);
  if (level === 5) head.push(0); // no properties
  const remaining = head.length + size;
  const fixed = [Header.PUBLISH | (qos << 1), ...varint(remaining)];
  const bytes = new Uint8Array(fixed.length + remaining);
  bytes.set(fixed, 0);
  bytes.set(head, fixed.length);
  return {
    bytes,
    packetIdAt: packetIdAt < 0 ? -1 : fixed.length + packetIdAt,
    payloadAt: fixed.length + head.length,
  };
}

/**
 * Calls `onFrame(first, data, bodyStart, bodyEnd)` for every whole frame in `data`
 * and returns how many bytes were consumed; a trailing partial frame is left for
 * the next read (short input is not an error).
 */
export function scanFrames(
  data: Uint8Array,
  onFrame: (first: number, data: Uint8Array, start: number, end: number) => void,
): number {
  let at = 0;
  while (at + 2 <= data.length) {
    let length = 0;
    let multiplier = 1;
    let p = at + 1;
    let complete = false;
    for (let i = 0; i < 4 && p < data.length; i++) {
      const byte = data[p++];
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if ((byte & 0x80) === 0) {
        complete = true;
        break;
      }
    }
    if (!complete) {
      if (p - at - 1 >= 4) throw new Error("malformed remaining length from the broker");
      return at;
    }
    if (p + length > data.length) return at;
    onFrame(data[at], data, p, p + length);
    at = p + length;
  }
  return at;
}

/** Where a received PUBLISH's packet id and payload are, read in place. */
export function publishLayout(
  level: ProtoLevel,
  first: number,
  data: Uint8Array,
  start: number,
): { qos: number; packetId: number; payloadAt: number } {
  const qos = (first >> 1) & 3;
  let p = start + 2 + ((data[start] << 8) | data[start + 1]);
  let packetId = 0;
  if (qos > 0) {
    packetId = (data[p] << 8) | data[p + 1];
    p += 2;
  }
  if (level === 5) {
    let length = 0;
    let multiplier = 1;
    for (;;) {
      const byte = data[p++];
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if ((byte & 0x80) === 0) break;
    }
    p += length;
  }
  return { qos, packetId, payloadAt: p };
}
