/**
 * One bridge: keeps a connection to a remote broker and carries messages both
 * ways by its topic rules.
 *
 * Queuing: the local side is a persistent session of this broker (see
 * local_link.ts) subscribed to the `out` filters. It is online only while the
 * remote is connected; while the remote is unreachable the session is offline
 * and the engine queues its QoS 1/2 messages exactly as for any offline client,
 * bounded by `max_queued_messages` and written to the store when it is durable.
 * A message is acknowledged on one side only after the other side acknowledged
 * it, so a connection lost on either side leaves it unacknowledged, and it is
 * sent again.
 *
 * Loops: the local subscriptions use No Local, so what the bridge publishes
 * locally never goes back out through it; towards the remote, v5 uses No Local,
 * 3.1.1 sets the bridge bit (0x80) and, if the remote refuses it, an echo filter
 * drops messages that come back as they were sent.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { BridgeConfig } from "../config/schema.ts";
import { ConnackReturnCode, type Properties, type PublishPacket, type QoS } from "../protocol/packet.ts";
import type { Socket } from "../transport/socket.ts";
import { backoffDelay } from "./backoff.ts";
import { EchoFilter } from "./echo_filter.ts";
import {
  type BridgeEngine,
  type BridgeTrust,
  connectLocal,
  localClientId,
  prepareLocalSession,
} from "./local_link.ts";
import { ConnectRefused, MqttClient } from "./mqtt_client.ts";
import { openRemote, withTimeout } from "./remote_address.ts";
import { ResendMarks } from "./resend_marks.ts";
import { type Crossing, route, sourceFilter, type TopicRule } from "./topic_remap.ts";

const encoder = new TextEncoder();
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * What metrics and $SYS report about a bridge ({@link Server.bridges}).
 *
 * @example
 * ```ts
 * import type { BridgeStatus } from "../server_mod.ts";
 * const line = (b: BridgeStatus) => `${b.name}: ${b.connected ? "up" : "down"}, ${b.queued} queued`;
 * console.log(line({ name: "hq", connected: true, messagesIn: 0, messagesOut: 0, reconnects: 0, queued: 0 }));
 * ```
 */
export interface BridgeStatus {
  /** The bridge's configured name. */
  readonly name: string;
  /** Connected to its remote broker now. */
  readonly connected: boolean;
  /** Messages carried from the remote to this broker. */
  readonly messagesIn: number;
  /** Messages carried from this broker to the remote. */
  readonly messagesOut: number;
  /** Reconnect attempts since start. */
  readonly reconnects: number;
  /** QoS 1/2 messages held for the remote (queued and in flight). */
  readonly queued: number;
}

/** Options for tests and embedders. */
export interface BridgeOptions {
  /** Opens the connection to the remote (default: by the configured address and transport). */
  openRemote?: (config: BridgeConfig) => Promise<Socket>;
  /** Host name in the default client id (default: Deno.hostname()). */
  hostname?: string;
}

/** Only what describes the message travels on; aliases and subscription ids belong to one link. */
function forwarded(properties: Properties | undefined): Properties | undefined {
  if (properties === undefined) return undefined;
  const { topicAlias: _a, subscriptionIdentifiers: _s, ...rest } = properties;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

function rulesOf(config: BridgeConfig): TopicRule[] {
  return config.topics.map((t) => ({
    pattern: t.pattern,
    direction: t.direction,
    qos: t.qos,
    localPrefix: t.local_prefix,
    remotePrefix: t.remote_prefix,
  }));
}

export class Bridge implements BridgeStatus {
  readonly name: string;
  readonly #broker: BridgeEngine;
  readonly #config: BridgeConfig;
  readonly #trust: BridgeTrust;
  readonly #options: BridgeOptions;
  readonly #rules: TopicRule[];
  readonly #log = getLogger(["mqtt", "bridge"]);
  #remote: MqttClient | null = null;
  #local: MqttClient | null = null;
  /** Resolves once both sides of the current connection are up; rejects when it ends. */
  #linked: Promise<void> = Promise.resolve();
  /** Set once a 3.1.1 remote refused the bridge bit: loops are then caught by the echo filter. */
  #echo: EchoFilter | null = null;
  #privateRefused = false;
  /** What was already sent on to the remote (`out`) and to this broker (`in`), for DUP. */
  readonly #resent = { out: new ResendMarks(), in: new ResendMarks() };
  #stopped = false;
  #wake: () => void = () => {};
  #running: Promise<void> = Promise.resolve();
  connected = false;
  messagesIn = 0;
  messagesOut = 0;
  reconnects = 0;

  constructor(broker: BridgeEngine, config: BridgeConfig, trust: BridgeTrust, options: BridgeOptions = {}) {
    this.name = config.name;
    this.#broker = broker;
    this.#config = config;
    this.#trust = trust;
    this.#options = options;
    this.#rules = rulesOf(config);
  }

  get queued(): number {
    const session = this.#broker.admin.session(localClientId(this.name));
    return session === undefined ? 0 : session.queued + session.inflight;
  }

  /** Prepares the local session, then connects and keeps reconnecting until stop(). */
  async start(): Promise<void> {
    await prepareLocalSession(this.#broker, this.name, {
      trust: this.#trust,
      rules: this.#rules,
      queueLimit: this.#config.max_queued_messages,
    });
    this.#publishState();
    this.#running = this.#run();
  }

  /**
   * Disconnects both sides (the local session stays, with its queue) and stops reconnecting.
   * A connection attempt still under way (an unreachable host can take the whole connect
   * timeout) is not waited for beyond `graceMs`: it notices the stop and closes itself.
   */
  async stop(graceMs = 1000): Promise<void> {
    this.#stopped = true;
    this.#wake();
    this.#remote?.disconnect();
    this.#local?.disconnect();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#running, new Promise((r) => timer = setTimeout(r, graceMs))]);
    clearTimeout(timer);
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#stopped) {
      try {
        if (await this.#connectOnce()) attempt = 0;
      } catch (err) {
        this.#log.warn("Bridge {name}: cannot connect to {address}: {error}", {
          name: this.name,
          address: this.#config.address,
          error: (err as Error).message,
        });
      }
      if (this.#stopped) break;
      const delay = backoffDelay(attempt++, {
        minMs: this.#config.reconnect_min_ms,
        maxMs: this.#config.reconnect_max_ms,
      });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (!this.#stopped) this.reconnects++;
    }
  }

  /** One connection: connect both sides, carry messages until either ends. True once connected. */
  async #connectOnce(): Promise<boolean> {
    // A remote session may deliver what it kept right after CONNACK, before the local side is
    // up: those messages wait for both sides instead of failing (they would not come again
    // until the next connection).
    let linked!: { resolve(): void; reject(err: Error): void };
    this.#linked = new Promise<void>((resolve, reject) => linked = { resolve, reject });
    this.#linked.catch(() => {});
    const remote = await this.#connectRemote().catch((err) => {
      linked.reject(err);
      throw err;
    });
    this.#remote = remote.client;
    let local: MqttClient | undefined;
    try {
      if (this.#stopped) return false; // stopped while connecting: the finally block closes it
      const window = Math.min(this.#config.max_inflight, remote.window);
      local = (await connectLocal(this.#broker, this.name, {
        trust: this.#trust,
        receiveMaximum: window,
        maxInflight: this.#config.max_inflight,
        onMessage: (m) => this.#carry("out", m),
      })).client;
      this.#local = local;
      linked.resolve();
      await this.#subscribeRemote(remote.client);
      if (this.#stopped) return true;
      this.connected = true;
      this.#publishState();
      this.#log.info("Bridge {name} connected to {address}", {
        name: this.name,
        address: this.#config.address,
      });
      await Promise.race([remote.client.closed, local.closed]);
      this.#log.info("Bridge {name} disconnected: {reason}", {
        name: this.name,
        reason: remote.client.isClosed ? remote.client.closeReason : local.closeReason,
      });
      return true;
    } finally {
      linked.reject(new Error("the bridge connection ended"));
      remote.client.disconnect();
      local?.disconnect();
      this.#remote = null;
      this.#local = null;
      if (this.connected) {
        this.connected = false;
        this.#publishState();
      }
    }
  }

  async #subscribeRemote(remote: MqttClient): Promise<void> {
    const wanted = this.#rules.filter((r) => r.direction !== "out");
    if (wanted.length === 0) return;
    const codes = await remote.subscribe(wanted.map((r) => ({
      filter: sourceFilter(r, "in"),
      qos: r.qos,
      noLocal: remote.level === 5,
      retainAsPublished: true,
      retainHandling: 0,
    })));
    codes.forEach((code, i) => {
      if (code >= 0x80) {
        this.#log.warn("Bridge {name}: the remote refused {filter} (0x{code})", {
          name: this.name,
          filter: sourceFilter(wanted[i], "in"),
          code: code.toString(16),
        });
      }
    });
  }

  /** Connects to the remote; a 3.1.1 remote that refuses the bridge bit is retried without it. */
  async #connectRemote(): Promise<{ client: MqttClient; window: number }> {
    const c = this.#config;
    const v5 = c.protocol === "mqttv5";
    const bridgeBit = !v5 && c.try_private && !this.#privateRefused;
    const socket = await withTimeout((this.#options.openRemote ?? openRemote)(c), CONNECT_TIMEOUT_MS);
    try {
      const { client, connack } = await MqttClient.connect(socket, {
        protocolName: "MQTT",
        protocolLevel: v5 ? 5 : 4,
        bridge: bridgeBit,
        clean: c.clean_start,
        keepAlive: c.keepalive,
        clientId: c.client_id ?? `${this.#options.hostname ?? hostname()}.${c.name}`,
        username: c.username,
        password: c.password === undefined ? undefined : encoder.encode(c.password),
        properties: v5
          ? { sessionExpiryInterval: c.session_expiry, receiveMaximum: c.max_inflight }
          : undefined,
      }, { onMessage: (m) => this.#carry("in", m), maxInflight: c.max_inflight });
      this.#echo = !v5 && !bridgeBit ? (this.#echo ?? new EchoFilter()) : null;
      return { client, window: connack.properties?.receiveMaximum ?? 65535 };
    } catch (err) {
      if (
        bridgeBit && err instanceof ConnectRefused &&
        err.reasonCode === ConnackReturnCode.UnacceptableProtocolVersion
      ) {
        this.#log.info("Bridge {name}: the remote refused the bridge bit; retrying without it", {
          name: this.name,
        });
        this.#privateRefused = true;
        return this.#connectRemote();
      }
      throw err;
    }
  }

  /**
   * Carries one message across. Resolves once the other side acknowledged it (the
   * source's acknowledgement waits for that); rejects when the other side is gone.
   */
  async #carry(crossing: Crossing, message: PublishPacket): Promise<void> {
    const target = route(this.#rules, crossing, message.topic);
    if (target === undefined) return;
    if (crossing === "in" && this.#echo?.isEcho(message.topic, message.payload)) return;
    const marks = this.#resent[crossing];
    const id = message.packetId ?? 0;
    const dup = message.qos > 0 && marks.arrived(id, message.dup);
    await this.#linked;
    const to = crossing === "out" ? this.#remote : this.#local;
    if (to === null || to.isClosed) throw new Error("the other side is not connected");
    if (crossing === "out") this.#echo?.sent(target.topic, message.payload);
    const code = await to.publish({
      topic: target.topic,
      payload: message.payload,
      qos: (message.qos < target.qos ? message.qos : target.qos) as QoS,
      retain: message.retain,
      properties: forwarded(message.properties),
      // [MQTT-3.3.1-1] a message sent on an earlier connection goes out again with DUP.
      dup,
      onSent: message.qos > 0 ? () => marks.sent(id) : undefined,
    });
    // Acknowledged on the other side: the source's acknowledgement follows, and the id is free.
    if (message.qos > 0) marks.done(id);
    if (code >= 0x80) {
      this.#log.warn("Bridge {name}: {topic} refused by the {side} side (0x{code})", {
        name: this.name,
        topic: target.topic,
        side: crossing === "out" ? "remote" : "local",
        code: code.toString(16),
      });
      return;
    }
    if (crossing === "out") this.messagesOut++;
    else this.messagesIn++;
  }

  /** `$SYS/broker/bridges/<name>/state`, retained, as Mosquitto's `$SYS/broker/connection/<name>/state`. */
  #publishState(): void {
    this.#broker.publishInternal({
      topic: `$SYS/broker/bridges/${this.name}/state`,
      payload: encoder.encode(this.connected ? "connected" : "disconnected"),
      qos: 0,
      retain: true,
    }, false).catch(() => {/* reported by the commit chain */});
  }
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "deno-mqtt";
  }
}
