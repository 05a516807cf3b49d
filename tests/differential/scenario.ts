/**
 * The scenario language of the differential tests: plain TypeScript data. A
 * scenario names its clients and lists their steps in the order they happen
 * (each step names its client, so a client's own steps are its sequence and the
 * interleaving between clients is explicit). The broker configuration is given
 * once (see broker_config.ts) and rendered for both brokers.
 *
 * The builders at the end keep the scenario files short:
 *
 *   scenario("a retained message is replaced", [
 *     connect("pub"), publish("pub", "r/1", "one", { retain: true }),
 *     publish("pub", "r/1", "two", { retain: true }),
 *     connect("sub"), subscribe("sub", "r/#", 1),
 *   ])
 */
import type { Packet, Properties, QoS } from "../../src/protocol/packet.ts";
import type { SharedConfig } from "./broker_config.ts";
import type { DifferenceId } from "./differences.ts";

/** 3.1.1 or 5.0 (3.1 is covered by the interop tests). */
export type Version = 4 | 5;

export interface WillSpec {
  topic: string;
  payload: string;
  qos?: QoS;
  retain?: boolean;
  /** v5 Will Delay Interval, seconds. */
  delay?: number;
  /** Other v5 will properties. */
  properties?: Properties;
}

export interface ConnectStep {
  do: "connect";
  client: string;
  version: Version;
  /** The client identifier; defaults to the client's name ("" asks the server to assign one). */
  clientId?: string;
  /** Clean Session (3.1.1) / Clean Start (5.0); default true. */
  clean: boolean;
  /** Seconds (default 60: what most clients send). */
  keepAlive?: number;
  /** v5 Session Expiry Interval, seconds. */
  expiry?: number;
  will?: WillSpec;
  username?: string;
  password?: string;
  /** Other v5 CONNECT properties (Receive Maximum, Topic Alias Maximum, Maximum Packet Size…). */
  properties?: Properties;
  /** Acknowledge incoming QoS 1/2 PUBLISHes at once (default); false leaves them for an `ack` step. */
  autoAck?: boolean;
  /** Never ping this connection to settle (a keep-alive test must stay silent). */
  silent?: boolean;
}

export interface SubscriptionSpec {
  filter: string;
  qos: QoS;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
}

export interface SubscribeStep {
  do: "subscribe";
  client: string;
  subscriptions: SubscriptionSpec[];
  /** v5 Subscription Identifier. */
  id?: number;
}

export interface UnsubscribeStep {
  do: "unsubscribe";
  client: string;
  filters: string[];
}

export interface PublishStep {
  do: "publish";
  client: string;
  topic: string;
  payload: string;
  qos: QoS;
  retain: boolean;
  properties?: Properties;
  /** For QoS 2: stop after PUBREC, never sending PUBREL (the message stays unacknowledged). */
  noPubrel?: boolean;
  /** Send it without waiting for the acknowledgement (a flood, or a packet the broker refuses). */
  noWait?: boolean;
}

export interface DisconnectStep {
  do: "disconnect";
  client: string;
  /** v5 reason code (0x00 normal, 0x04 with will). */
  reason?: number;
  properties?: Properties;
}

/** Closes the TCP connection without DISCONNECT: to the broker an abnormal end. */
export interface DropStep {
  do: "drop";
  client: string;
}

/** Acknowledges the QoS 1/2 messages a client with autoAck false has received. */
export interface AckStep {
  do: "ack";
  client: string;
}

/** Sends one packet, or raw bytes, as is: for packets the other steps would never produce (protocol errors). */
export interface SendStep {
  do: "send";
  client: string;
  packet?: Packet;
  bytes?: number[];
}

export interface WaitStep {
  do: "wait";
  ms: number;
}

export type Step =
  | ConnectStep
  | SubscribeStep
  | UnsubscribeStep
  | PublishStep
  | DisconnectStep
  | DropStep
  | AckStep
  | SendStep
  | WaitStep;

/** A difference the scenario is allowed to show, with the catalogue entry that says why. */
export interface ExpectedDifference {
  id: DifferenceId;
  /** The clients whose observations differ (all of them when omitted). */
  clients?: string[];
}

export interface Scenario {
  name: string;
  /** What the brokers are configured with (default: the shared defaults of broker_config.ts). */
  config?: SharedConfig;
  steps: Step[];
  /** Differences that are known and documented (docs/conformance.md); any other fails. */
  expectDifference?: ExpectedDifference[];
  /**
   * Clients whose received messages are compared together, sorted, under the pool's name
   * (members of one share group: which member gets which message is the broker's choice).
   */
  pools?: Record<string, string[]>;
}

// Builders -----------------------------------------------------------------------------------

export function scenario(
  name: string,
  steps: Step[],
  options: Pick<Scenario, "config" | "expectDifference" | "pools"> = {},
): Scenario {
  return { name, steps, ...options };
}

export function connect(
  client: string,
  options: Partial<Omit<ConnectStep, "do" | "client">> = {},
): ConnectStep {
  return { do: "connect", client, version: 5, clean: true, ...options };
}

/**
 * A client connecting again after a disconnect or a dropped connection (Clean Start 0 unless
 * told otherwise): its observations continue as connection c2, c3, ….
 */
export function reconnect(
  client: string,
  options: Partial<Omit<ConnectStep, "do" | "client">> = {},
): ConnectStep {
  return connect(client, { clean: false, ...options });
}

/** The same client connecting with 3.1.1. */
export function connect4(
  client: string,
  options: Partial<Omit<ConnectStep, "do" | "client">> = {},
): ConnectStep {
  return connect(client, { version: 4, ...options });
}

export function subscribe(
  client: string,
  filter: string | SubscriptionSpec[],
  qos: QoS = 0,
  options: { id?: number } & Omit<Partial<SubscriptionSpec>, "filter" | "qos"> = {},
): SubscribeStep {
  const { id, ...flags } = options;
  const subscriptions = typeof filter === "string" ? [{ filter, qos, ...flags }] : filter;
  return { do: "subscribe", client, subscriptions, ...(id === undefined ? {} : { id }) };
}

export function unsubscribe(client: string, ...filters: string[]): UnsubscribeStep {
  return { do: "unsubscribe", client, filters };
}

export function publish(
  client: string,
  topic: string,
  payload: string,
  options: Partial<Omit<PublishStep, "do" | "client" | "topic" | "payload">> = {},
): PublishStep {
  return { do: "publish", client, topic, payload, qos: 0, retain: false, ...options };
}

export function disconnect(client: string, reason?: number, properties?: Properties): DisconnectStep {
  return { do: "disconnect", client, reason, properties };
}

export function drop(client: string): DropStep {
  return { do: "drop", client };
}

export function ack(client: string): AckStep {
  return { do: "ack", client };
}

export function wait(ms: number): WaitStep {
  return { do: "wait", ms };
}

export function send(client: string, packet: Packet): SendStep {
  return { do: "send", client, packet };
}

export function sendBytes(client: string, bytes: number[]): SendStep {
  return { do: "send", client, bytes };
}
