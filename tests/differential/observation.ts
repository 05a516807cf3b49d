/**
 * What a client observed, rendered as comparable lines, and the comparison of
 * two brokers' observations.
 *
 * Normalised away, because they legitimately differ between correct brokers:
 * packet identifiers; reason strings and user properties on acknowledgements;
 * server-assigned client identifiers (rendered `<assigned>`); CONNACK properties
 * that state the protocol's default (Retain Available 1, Maximum QoS 2, …, which
 * mean the same whether sent or not); topic aliases the broker chose to use
 * towards the client (resolved to their topic); the order of several
 * Subscription Identifiers in one PUBLISH; a Message Expiry Interval's last
 * seconds (rounded to 10 s: brokers count down at different instants); and the
 * order of acknowledgements relative to messages on one connection (a broker may
 * deliver a client's own QoS 1 message before or after its PUBACK), so each
 * connection is compared as its control packets, then its messages, each in order;
 * the order among retained messages sent for one subscription (the specification
 * sets none); and, for scenarios that pool a share group's members, which member
 * received which message.
 */
import type { ConnackPacket, Packet, Properties, PublishPacket } from "../../src/protocol/packet.ts";
import { PacketType } from "../../src/protocol/packet.ts";

const decoder = new TextDecoder();
const hex = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;

/** CONNACK properties whose absence means the value shown: sending it changes nothing. */
const CONNACK_DEFAULTS: Partial<Record<keyof Properties, number>> = {
  retainAvailable: 1,
  wildcardSubscriptionAvailable: 1,
  subscriptionIdentifiersAvailable: 1,
  sharedSubscriptionAvailable: 1,
  maximumQoS: 2,
  receiveMaximum: 65535,
  topicAliasMaximum: 0,
  maximumPacketSize: 268_435_455 + 5,
};

/** CONNACK properties compared; anything else (Reason String, User Properties) is diagnostics. */
const CONNACK_KEYS: (keyof Properties)[] = [
  "sessionExpiryInterval",
  "receiveMaximum",
  "maximumQoS",
  "retainAvailable",
  "maximumPacketSize",
  "assignedClientIdentifier",
  "topicAliasMaximum",
  "wildcardSubscriptionAvailable",
  "subscriptionIdentifiersAvailable",
  "sharedSubscriptionAvailable",
  "serverKeepAlive",
  "responseInformation",
  "serverReference",
];

export function renderConnack(packet: Packet, level: 4 | 5): string {
  if (packet.type !== PacketType.CONNACK) return `expected CONNACK, got ${renderReasons(packet, level)}`;
  const connack = packet as ConnackPacket;
  const head = `CONNACK ${hex(connack.reasonCode)} sp=${connack.sessionPresent ? 1 : 0}`;
  if (level !== 5 || connack.properties === undefined) return head;
  const props: string[] = [];
  for (const key of CONNACK_KEYS) {
    const value = connack.properties[key];
    if (value === undefined || value === CONNACK_DEFAULTS[key]) continue;
    props.push(`${key}=${key === "assignedClientIdentifier" ? "<assigned>" : value}`);
  }
  return props.length === 0 ? head : `${head} ${props.join(" ")}`;
}

/** SUBACK, UNSUBACK, the publish acknowledgements and DISCONNECT, with their reason codes. */
export function renderReasons(packet: Packet, level: 4 | 5): string {
  switch (packet.type) {
    case PacketType.CONNACK:
      return renderConnack(packet, level);
    case PacketType.SUBACK:
      return `SUBACK [${packet.reasonCodes.map(hex).join(",")}]`;
    case PacketType.UNSUBACK:
      return level === 5 ? `UNSUBACK [${packet.reasonCodes.map(hex).join(",")}]` : "UNSUBACK";
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP: {
      const name = ["PUBACK", "PUBREC", "PUBREL", "PUBCOMP"][packet.type - PacketType.PUBACK];
      return level === 5 ? `${name} ${hex(packet.reasonCode)}` : name;
    }
    case PacketType.DISCONNECT:
      return `DISCONNECT ${hex(packet.reasonCode)}`;
    default:
      return `packet type ${packet.type}`;
  }
}

/** A received PUBLISH: topic, payload, QoS, retain and DUP flags, and the v5 properties that carry meaning. */
export function renderMessage(packet: PublishPacket, level: 4 | 5): string {
  const flags = `q${packet.qos} r${packet.retain ? 1 : 0}${packet.dup ? " dup" : ""}`;
  const head = `MSG ${packet.topic} ${JSON.stringify(decoder.decode(packet.payload))} ${flags}`;
  const p = packet.properties;
  if (level !== 5 || p === undefined) return head;
  const props: string[] = [];
  if (p.payloadFormatIndicator !== undefined) props.push(`format=${p.payloadFormatIndicator}`);
  if (p.messageExpiryInterval !== undefined) {
    props.push(`expiry~${Math.round(p.messageExpiryInterval / 10) * 10}`);
  }
  if (p.contentType !== undefined) props.push(`contentType=${p.contentType}`);
  if (p.responseTopic !== undefined) props.push(`responseTopic=${p.responseTopic}`);
  if (p.correlationData !== undefined) props.push(`correlation=${decoder.decode(p.correlationData)}`);
  if (p.userProperties !== undefined) props.push(`user=${JSON.stringify(p.userProperties)}`);
  if (p.subscriptionIdentifiers !== undefined) {
    props.push(`subIds=${[...p.subscriptionIdentifiers].sort((a, b) => a - b).join(",")}`);
  }
  return props.length === 0 ? head : `${head} ${props.join(" ")}`;
}

/** One client whose observations differ between the brokers. */
export interface ClientDifference {
  client: string;
  ours: string[];
  mosquitto: string[];
}

/** The clients whose observed lines differ. */
export function compareObservations(
  ours: Record<string, string[]>,
  mosquitto: Record<string, string[]>,
): ClientDifference[] {
  const names = [...new Set([...Object.keys(ours), ...Object.keys(mosquitto)])].sort();
  const differences: ClientDifference[] = [];
  for (const client of names) {
    const a = ours[client] ?? [];
    const b = mosquitto[client] ?? [];
    if (a.length !== b.length || a.some((line, i) => line !== b[i])) {
      differences.push({ client, ours: a, mosquitto: b });
    }
  }
  return differences;
}

/** A difference as text: both brokers' lines side by side, differing lines marked. */
export function formatDifference(d: ClientDifference): string {
  const rows = Math.max(d.ours.length, d.mosquitto.length);
  const out = [`client ${d.client}:`];
  for (let i = 0; i < rows; i++) {
    const a = d.ours[i] ?? "";
    const b = d.mosquitto[i] ?? "";
    out.push(
      a === b ? `    ${a}` : `  ≠ this broker: ${a || "(nothing)"}\n    mosquitto:   ${b || "(nothing)"}`,
    );
  }
  return out.join("\n");
}

/** Sorts each run of consecutive retained messages (their order on subscribe is unspecified). */
export function sortRetainedRuns(messages: string[]): string[] {
  const out: string[] = [];
  let run: string[] = [];
  const flush = () => {
    out.push(...run.sort());
    run = [];
  };
  for (const line of messages) {
    if (/ q\d r1( |$)/.test(line)) run.push(line);
    else {
      flush();
      out.push(line);
    }
  }
  flush();
  return out;
}

/** Moves the messages of each pool's members, without their connection number, into one sorted list. */
export function pooled(
  observations: Record<string, string[]>,
  pools: Record<string, string[]> | undefined,
): Record<string, string[]> {
  if (pools === undefined) return observations;
  const out = { ...observations };
  for (const [pool, members] of Object.entries(pools)) {
    const messages: string[] = [];
    for (const member of members) {
      const lines = out[member] ?? [];
      messages.push(...lines.filter((l) => / MSG /.test(l)).map((l) => l.replace(/^c\d+ /, "")));
      out[member] = lines.filter((l) => !/ MSG /.test(l));
    }
    out[pool] = messages.sort();
  }
  return out;
}
