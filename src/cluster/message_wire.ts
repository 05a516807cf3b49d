/**
 * An application message on NATS: the MQTT payload as the NATS payload (not copied
 * or re-encoded), the topic in the subject, and the rest in headers.
 *
 * Subjects: `mqtt.v.<topic tokens>` for QoS 0 (core NATS only) and `mqtt.d.<topic tokens>`
 * for QoS 1/2 (also captured by the message stream). A node subscribes to
 * `mqtt.*.<filter subject>` so one subscription serves both.
 *
 * @module
 */
import { headers as natsHeaders, type MsgHdrs } from "nats";
import type { QoS } from "../protocol/packet.ts";
import type { StoredMessage } from "../persistence/store.ts";
import { decodeRecord, encodeRecord } from "./record_codec.ts";
import { filterToSubjects, subjectToTopic, topicToSubject } from "./subject_mapping.ts";

export const VOLATILE_PREFIX = "mqtt.v";
export const DURABLE_PREFIX = "mqtt.d";
/** Everything the message stream captures. */
export const DURABLE_SUBJECTS = `${DURABLE_PREFIX}.>`;

/** Header names. The node instance and sequence identify a message cluster-wide. */
export const Header = {
  node: "Mqtt-Node",
  seq: "Mqtt-Seq",
  qos: "Mqtt-Qos",
  retain: "Mqtt-Retain",
  client: "Mqtt-Client",
  properties: "Mqtt-Props",
  expires: "Mqtt-Expires",
} as const;

/** Who sent a message and its place in that sender's order. */
export interface MessageOrigin {
  node: string;
  seq: number;
}

export function subjectFor(message: StoredMessage): string {
  return topicToSubject(message.qos === 0 ? VOLATILE_PREFIX : DURABLE_PREFIX, message.topic);
}

/**
 * The subjects one node subscribes to for a filter: QoS 0 messages only (QoS 1/2 ones reach
 * every node through the stream), or both QoS classes at once for a share group.
 */
export function subscriptionSubjects(filter: string, shared = false): string[] {
  return filterToSubjects(shared ? "mqtt.*" : VOLATILE_PREFIX, filter);
}

/** The id the stream de-duplicates a forwarded message by, stable across retries of its publish. */
export function messageId(origin: MessageOrigin): string {
  return `${origin.node}:${origin.seq}`;
}

export function encodeHeaders(message: StoredMessage, origin: MessageOrigin): MsgHdrs {
  const h = natsHeaders();
  h.set(Header.node, origin.node);
  h.set(Header.seq, String(origin.seq));
  h.set(Header.qos, String(message.qos));
  if (message.retain) h.set(Header.retain, "1");
  if (message.origin !== undefined) h.set(Header.client, encodeURIComponent(message.origin));
  if (message.properties !== undefined) {
    h.set(Header.properties, encodeURIComponent(new TextDecoder().decode(encodeRecord(message.properties))));
  }
  if (message.expiresAt !== undefined) h.set(Header.expires, String(message.expiresAt));
  return h;
}

export function decodeOrigin(h: MsgHdrs | undefined): MessageOrigin | undefined {
  const node = h?.get(Header.node);
  if (!node) return undefined;
  return { node, seq: Number(h!.get(Header.seq)) };
}

/** The message a NATS delivery carries (subject `mqtt.<v|d>.<tokens>`). */
export function decodeMessage(subject: string, payload: Uint8Array, h: MsgHdrs | undefined): StoredMessage {
  const message: StoredMessage = {
    topic: subjectToTopic(subject, 2),
    payload,
    qos: Number(h?.get(Header.qos) || 0) as QoS,
    retain: h?.get(Header.retain) === "1",
  };
  const client = h?.get(Header.client);
  if (client) message.origin = decodeURIComponent(client);
  const props = h?.get(Header.properties);
  if (props) message.properties = decodeRecord(new TextEncoder().encode(decodeURIComponent(props)));
  const expires = h?.get(Header.expires);
  if (expires) message.expiresAt = Number(expires);
  return message;
}
