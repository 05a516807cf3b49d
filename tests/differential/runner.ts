/**
 * Runs one scenario against one broker on 127.0.0.1 with raw clients of the
 * project's own codec and records what every client observed, already in the
 * normalised form that observation.ts compares.
 *
 * After each step the runner settles: it pings the client that acted, then every
 * other open connection, and waits for each PINGRESP. A broker answers a PINGREQ
 * after what it wrote before reading it, so whatever the step caused (a delivery,
 * a retained message, a DISCONNECT) has arrived by then, without sleeping and
 * hoping. Only what a broker does on its own time (a will after a dropped
 * connection, a keep-alive timeout, an expiry) needs a `wait` step.
 */
import { type Packet, PacketType, type Properties, type PublishPacket } from "../../src/protocol/packet.ts";
import { WireClient } from "../_helpers/wire_client.ts";
import { renderConnack, renderMessage, renderReasons, sortRetainedRuns } from "./observation.ts";
import type { ConnectStep, PublishStep, Scenario, Step } from "./scenario.ts";

/** Longest wait for a reply the step expects (a loaded 2-core machine runs many scenarios at once). */
const REPLY_MS = 4000;
/** Time a broker gets to notice a closed connection before the next step. */
const CLOSE_NOTICE_MS = 150;

const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What each client observed: its connections in order, each as lines of control packets then messages. */
export type Observations = Record<string, string[]>;

/** One connection of a named client. */
class Link {
  readonly index: number;
  readonly step: ConnectStep;
  readonly control: string[] = [];
  readonly messages: string[] = [];
  client!: WireClient;
  closedByUs = false;
  /** CONNACK accepted the connection (only then may it be pinged). */
  connected = false;
  #nextId = 1;
  readonly #acks = new Map<number, (packet: Packet) => void>();
  readonly #replies: { type: number; resolve: (packet: Packet) => void }[] = [];
  readonly #unacked: PublishPacket[] = [];
  /** Topic aliases the broker set on this connection. */
  readonly #aliases = new Map<number, string>();

  constructor(index: number, step: ConnectStep) {
    this.index = index;
    this.step = step;
  }

  get level(): 4 | 5 {
    return this.step.version;
  }

  get open(): boolean {
    return !this.closedByUs && this.client?.ending === undefined;
  }

  async open_(port: number): Promise<void> {
    this.client = await WireClient.open({ port, level: this.level, onPacket: (p) => this.#received(p) });
    this.client.ended.then(() => {
      if (!this.closedByUs) this.control.push("CLOSED");
      for (const r of this.#replies.splice(0)) r.resolve({ type: PacketType.DISCONNECT, reasonCode: -1 });
      for (const [, resolve] of this.#acks) resolve({ type: PacketType.DISCONNECT, reasonCode: -1 });
      this.#acks.clear();
    });
  }

  packetId(): number {
    const id = this.#nextId;
    this.#nextId = id === 65535 ? 1 : id + 1;
    return id;
  }

  send(packet: Packet): Promise<void> {
    return this.client.send(packet);
  }

  /** The next packet of `type` that is a reply (CONNACK, SUBACK, UNSUBACK, PINGRESP), or null. */
  reply(type: number): Promise<Packet | null> {
    if (!this.open) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.#replies.indexOf(entry);
        if (i >= 0) this.#replies.splice(i, 1);
        resolve(null);
      }, REPLY_MS);
      const entry = {
        type,
        resolve: (p: Packet) => {
          clearTimeout(timer);
          resolve(p.type === type ? p : null);
        },
      };
      this.#replies.push(entry);
    });
  }

  /** The acknowledgement of an outgoing QoS 1/2 packet id, or null. */
  ack(packetId: number): Promise<Packet | null> {
    if (!this.open) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#acks.delete(packetId);
        resolve(null);
      }, REPLY_MS);
      this.#acks.set(packetId, (p) => {
        clearTimeout(timer);
        resolve(p.type === PacketType.DISCONNECT ? null : p);
      });
    });
  }

  #received(packet: Packet): void {
    switch (packet.type) {
      case PacketType.PUBLISH:
        return this.#message(packet);
      case PacketType.PUBACK:
      case PacketType.PUBREC:
      case PacketType.PUBCOMP: {
        const waiter = this.#acks.get(packet.packetId);
        if (waiter === undefined) this.control.push(`unexpected ${renderReasons(packet, this.level)}`);
        this.#acks.delete(packet.packetId);
        waiter?.(packet);
        return;
      }
      case PacketType.PUBREL:
        this.send({ type: PacketType.PUBCOMP, packetId: packet.packetId, reasonCode: 0 });
        return;
      case PacketType.DISCONNECT:
        this.control.push(renderReasons(packet, this.level));
        return;
      default: {
        const i = this.#replies.findIndex((r) => r.type === packet.type);
        if (i < 0) {
          this.control.push(`unexpected ${renderReasons(packet, this.level)}`);
          return;
        }
        this.#replies.splice(i, 1)[0].resolve(packet);
      }
    }
  }

  #message(packet: PublishPacket): void {
    const alias = packet.properties?.topicAlias;
    let topic = packet.topic;
    if (alias !== undefined) {
      // Whether a broker uses outbound aliases is its choice: resolve them, record the topic.
      if (topic !== "") this.#aliases.set(alias, topic);
      else topic = this.#aliases.get(alias) ?? `<unknown alias ${alias}>`;
    }
    this.messages.push(renderMessage({ ...packet, topic }, this.level));
    if (packet.qos === 0) return;
    if (this.step.autoAck === false) this.#unacked.push(packet);
    else this.#acknowledge(packet);
  }

  #acknowledge(packet: PublishPacket): void {
    const type = packet.qos === 1 ? PacketType.PUBACK : PacketType.PUBREC;
    this.send({ type, packetId: packet.packetId!, reasonCode: 0 });
  }

  /** Acknowledges what an autoAck-false client has held back; the line shows where among the messages. */
  acknowledgeHeld(): void {
    const held = this.#unacked.splice(0);
    this.messages.push(`ACK ${held.length}`);
    for (const packet of held) this.#acknowledge(packet);
  }

  close(): void {
    this.closedByUs = true;
    this.client?.close();
  }
}

/** Runs `scenario` against the broker on `port`; returns each client's observations. */
export async function runScenario(scenario: Scenario, port: number): Promise<Observations> {
  const links = new Map<string, Link[]>();
  const current = (name: string) => links.get(name)?.at(-1);
  try {
    for (const step of scenario.steps) {
      await runStep(step, port, links, current);
      if (step.do === "drop" || step.do === "disconnect") await sleep(CLOSE_NOTICE_MS);
      await settle(step.do === "wait" ? undefined : current(step.client), links);
    }
    await sleep(50);
    await settle(undefined, links);
  } finally {
    for (const list of links.values()) for (const link of list) link.close();
  }
  const observations: Observations = {};
  for (const [name, list] of links) {
    observations[name] = list.flatMap((l) =>
      [...l.control, ...sortRetainedRuns(l.messages)].map((line) => `c${l.index} ${line}`)
    );
  }
  return observations;
}

async function runStep(
  step: Step,
  port: number,
  links: Map<string, Link[]>,
  current: (name: string) => Link | undefined,
): Promise<void> {
  if (step.do === "wait") return void await sleep(step.ms);
  if (step.do === "connect") {
    const list = links.get(step.client) ?? [];
    links.set(step.client, list);
    const link = new Link(list.length + 1, step);
    list.push(link);
    return await connectLink(link, step, port);
  }
  const link = current(step.client);
  if (link === undefined) throw new Error(`${step.do} by ${step.client} before it connected`);
  if (!link.open) return void link.control.push(`(${step.do}: not connected)`);
  switch (step.do) {
    case "subscribe": {
      const packetId = link.packetId();
      const properties: Properties | undefined = step.id === undefined
        ? undefined
        : { subscriptionIdentifiers: [step.id] };
      const subscriptions = step.subscriptions.map((s) => ({
        filter: s.filter,
        qos: s.qos,
        noLocal: s.noLocal ?? false,
        retainAsPublished: s.retainAsPublished ?? false,
        retainHandling: s.retainHandling ?? 0,
      }));
      const reply = link.reply(PacketType.SUBACK);
      await link.send({ type: PacketType.SUBSCRIBE, packetId, subscriptions, properties });
      const suback = await reply;
      link.control.push(suback === null ? "no SUBACK" : renderReasons(suback, link.level));
      return;
    }
    case "unsubscribe": {
      const reply = link.reply(PacketType.UNSUBACK);
      await link.send({ type: PacketType.UNSUBSCRIBE, packetId: link.packetId(), filters: step.filters });
      const unsuback = await reply;
      link.control.push(unsuback === null ? "no UNSUBACK" : renderReasons(unsuback, link.level));
      return;
    }
    case "publish":
      return await publishFrom(link, step);
    case "disconnect":
      await link.send({
        type: PacketType.DISCONNECT,
        reasonCode: step.reason ?? 0,
        properties: step.properties,
      });
      link.close();
      return;
    case "drop":
      link.close();
      return;
    case "ack":
      link.acknowledgeHeld();
      return;
    case "send":
      if (step.packet !== undefined) await link.send(step.packet);
      if (step.bytes !== undefined) await link.client.sendRaw(Uint8Array.from(step.bytes));
      return;
  }
}

async function connectLink(link: Link, step: ConnectStep, port: number): Promise<void> {
  await link.open_(port);
  const v5 = step.version === 5;
  const properties: Properties = { ...step.properties };
  if (step.expiry !== undefined) properties.sessionExpiryInterval = step.expiry;
  const will = step.will && {
    topic: step.will.topic,
    payload: encoder.encode(step.will.payload),
    qos: step.will.qos ?? 0,
    retain: step.will.retain ?? false,
    properties: v5 && (step.will.delay !== undefined || step.will.properties)
      ? {
        ...step.will.properties,
        ...(step.will.delay === undefined ? {} : { willDelayInterval: step.will.delay }),
      }
      : undefined,
  };
  const reply = link.reply(PacketType.CONNACK);
  await link.send({
    type: PacketType.CONNECT,
    protocolName: "MQTT",
    protocolLevel: step.version,
    clean: step.clean,
    keepAlive: step.keepAlive ?? 60,
    clientId: step.clientId ?? step.client,
    username: step.username,
    password: step.password === undefined ? undefined : encoder.encode(step.password),
    will,
    properties: v5 && Object.keys(properties).length > 0 ? properties : undefined,
  });
  const connack = await reply;
  link.control.push(connack === null ? "no CONNACK" : renderConnack(connack, link.level));
  link.connected = connack !== null && connack.type === PacketType.CONNACK && connack.reasonCode === 0;
}

async function publishFrom(link: Link, step: PublishStep): Promise<void> {
  const packetId = step.qos > 0 ? link.packetId() : undefined;
  const acked = packetId === undefined || step.noWait ? null : link.ack(packetId);
  await link.send({
    type: PacketType.PUBLISH,
    topic: step.topic,
    payload: encoder.encode(step.payload),
    qos: step.qos,
    retain: step.retain,
    dup: false,
    packetId,
    properties: link.level === 5 ? step.properties : undefined,
  });
  if (acked === null) return;
  const first = await acked;
  if (first === null) return void link.control.push(`no ${step.qos === 1 ? "PUBACK" : "PUBREC"}`);
  link.control.push(renderReasons(first, link.level));
  if (step.qos === 1 || step.noPubrel || (first.type === PacketType.PUBREC && first.reasonCode >= 0x80)) {
    return;
  }
  const completed = link.ack(packetId!);
  await link.send({ type: PacketType.PUBREL, packetId: packetId!, reasonCode: 0 });
  const pubcomp = await completed;
  link.control.push(pubcomp === null ? "no PUBCOMP" : renderReasons(pubcomp, link.level));
}

/** Pings `first`, then every other open connection, and waits for each PINGRESP. */
async function settle(first: Link | undefined, links: Map<string, Link[]>): Promise<void> {
  const ping = async (link: Link) => {
    if (!link.open || !link.connected || link.step.silent) return;
    const reply = link.reply(PacketType.PINGRESP);
    await link.send({ type: PacketType.PINGREQ });
    await reply;
  };
  if (first !== undefined) await ping(first);
  const others = [...links.values()].flat().filter((l) => l !== first);
  await Promise.all(others.map(ping));
}
