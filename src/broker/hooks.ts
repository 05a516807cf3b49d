/**
 * Hooks: one typed interface of optional methods that embedders implement to
 * observe or steer the broker. They run in registration order from arrays built
 * once at registration, so a broker without hooks pays one length check.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Clock } from "./clock.ts";
import type { Properties, QoS } from "../protocol/packet.ts";
import type { StoredMessage } from "../persistence/store.ts";
import type { Access, AuthResult, ConnectInfo } from "./security.ts";
import type { DropReason } from "./stats.ts";

/**
 * A client as hooks see it.
 *
 * @example
 * ```ts
 * import type { HookClient } from "../mod.ts";
 * const describe = (c: HookClient) => `${c.clientId} (${c.username ?? "anonymous"}) from ${c.remoteAddress}, v${c.protocolLevel}`;
 * console.log(describe({ clientId: "c1", remoteAddress: "10.0.0.2:51000", protocolLevel: 5 }));
 * ```
 */
export interface HookClient {
  /** The client identifier (an assigned one when the client sent none). */
  clientId: string;
  /** The user name it authenticated as. */
  username?: string;
  /**
   * Where it is connected from (`host:port`, or the in-process name of a local link); empty
   * when it is not connected: the authorization of its will, published after it went away.
   */
  remoteAddress: string;
  /** The MQTT protocol level it connected with: 3, 4 or 5. */
  protocolLevel: number;
}

/**
 * A message as hooks see it (and may rewrite).
 *
 * @example
 * ```ts
 * import { Broker, type HookMessage } from "../mod.ts";
 * const shout = (m: HookMessage): HookMessage => ({ ...m, topic: m.topic.toUpperCase() });
 * const broker = new Broker().use({ onPublish: (_client, m) => shout(m) });
 * await broker.close();
 * ```
 */
export interface HookMessage {
  /** The topic name. */
  topic: string;
  /** The payload: copy it to keep it beyond the call. */
  payload: Uint8Array;
  /** The QoS it was published with. */
  qos: QoS;
  /** The RETAIN flag. */
  retain: boolean;
  /** MQTT 5 properties, when the publisher sent any. */
  properties?: Properties;
}

/**
 * Hooks observe and steer a broker ({@link Broker.use}). Every method is optional;
 * implement only what you need. Decision hooks (`authenticate`, `authorize*`) run in
 * registration order until one decides; a throw, a rejection or a promise slower than
 * `BrokerOptions.hookTimeoutMs` counts as a denial. Notification hooks may not affect the
 * broker: what they throw is logged and ignored.
 *
 * @example
 * ```ts
 * import { Broker, type BrokerHook } from "../mod.ts";
 * const audit: BrokerHook = {
 *   authorizeSubscribe: (client, filter) => filter !== "#" || client.username === "admin",
 *   onConnect: (client) => console.log(`${client.clientId} connected`),
 * };
 * const broker = new Broker().use(audit);
 * await broker.close();
 * ```
 */
export interface BrokerHook {
  /** Returning a result decides; returning undefined defers to the next hook / the authenticator. */
  authenticate?(info: ConnectInfo): Promise<AuthResult | undefined> | AuthResult | undefined;
  /** May `client` publish to `topic`? false denies; undefined defers. */
  authorizePublish?(client: HookClient, topic: string): Promise<boolean | undefined> | boolean | undefined;
  /** May `client` subscribe to `filter`? false denies; undefined defers. */
  authorizeSubscribe?(client: HookClient, filter: string): Promise<boolean | undefined> | boolean | undefined;
  /** A client connected (its CONNECT was accepted). */
  onConnect?(client: HookClient): void | Promise<void>;
  /** A connected client's connection ended, for `reason`. */
  onDisconnect?(client: HookClient, reason: string): void | Promise<void>;
  /** A client subscribed to `filter`, granted `qos`. */
  onSubscribe?(client: HookClient, filter: string, qos: number): void | Promise<void>;
  /** A client unsubscribed from `filter`. */
  onUnsubscribe?(client: HookClient, filter: string): void | Promise<void>;
  /**
   * Before a message is routed (from a client, or from {@link Broker.publish} with `client`
   * null): may return a rewritten message, or null to drop it. A hook that throws drops it.
   */
  onPublish?(client: HookClient | null, message: HookMessage): HookMessage | null | void;
  /**
   * A message was routed: accepted from a client (`client`) or published by the broker
   * itself (`null`: {@link Broker.publish}, the API, wills; never $SYS updates). The payload
   * may be a view into a read buffer that is reused after the call: copy what you keep.
   */
  onPublished?(client: HookClient | null, message: HookMessage): void;
  /** A message was sent to the client `clientId`. */
  onDeliver?(clientId: string, message: HookMessage): void;
  /** The client `clientId` acknowledged the QoS 1/2 message of `packetId` (PUBACK or PUBCOMP). */
  onAck?(clientId: string, packetId: number): void;
  /** A message on `topic` was not delivered to `clientId`, for `reason`. */
  onMessageDropped?(clientId: string, topic: string, reason: DropReason): void;
  /** The session of `clientId` expired and was removed. */
  onSessionExpired?(clientId: string): void;
}

/** Registered hooks, grouped per method so each call site iterates only what exists. */
export class Hooks {
  readonly #log: Logger;
  readonly all: BrokerHook[] = [];
  authenticate: BrokerHook[] = [];
  authorizePublish: BrokerHook[] = [];
  authorizeSubscribe: BrokerHook[] = [];
  onConnect: BrokerHook[] = [];
  onDisconnect: BrokerHook[] = [];
  onSubscribe: BrokerHook[] = [];
  onUnsubscribe: BrokerHook[] = [];
  onPublish: BrokerHook[] = [];
  onPublished: BrokerHook[] = [];
  onDeliver: BrokerHook[] = [];
  onAck: BrokerHook[] = [];
  onMessageDropped: BrokerHook[] = [];
  onSessionExpired: BrokerHook[] = [];

  readonly #timeoutMs: number;
  readonly #clock: Clock;

  /** `timeoutMs`: how long a decision hook's promise may take, on `clock`. */
  constructor(log: Logger, clock: Clock, timeoutMs = 5000) {
    this.#log = log;
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
  }

  add(hook: BrokerHook): void {
    this.all.push(hook);
    const has = (name: keyof BrokerHook) => this.all.filter((h) => typeof h[name] === "function");
    this.authenticate = has("authenticate");
    this.authorizePublish = has("authorizePublish");
    this.authorizeSubscribe = has("authorizeSubscribe");
    this.onConnect = has("onConnect");
    this.onDisconnect = has("onDisconnect");
    this.onSubscribe = has("onSubscribe");
    this.onUnsubscribe = has("onUnsubscribe");
    this.onPublish = has("onPublish");
    this.onPublished = has("onPublished");
    this.onDeliver = has("onDeliver");
    this.onAck = has("onAck");
    this.onMessageDropped = has("onMessageDropped");
    this.onSessionExpired = has("onSessionExpired");
  }

  /** Runs a notification hook; a throw or rejection is logged, never propagated. */
  notify<K extends keyof BrokerHook>(name: K, call: (hook: BrokerHook) => unknown): void {
    for (const hook of this[name] as BrokerHook[]) {
      try {
        const result = call(hook);
        if (result instanceof Promise) {
          result.catch((err) =>
            this.#log.warn("Hook {hook} failed: {error}", { hook: name, error: String(err) })
          );
        }
      } catch (err) {
        this.#log.warn("Hook {hook} failed: {error}", { hook: name, error: String(err) });
      }
    }
  }

  /**
   * Runs the onPublish hooks in order over a message: the message as they leave it, or null
   * when one drops it. A hook that throws drops the message (logged): it never escapes.
   */
  rewrite(client: HookClient | null, message: StoredMessage): StoredMessage | null {
    let current = message;
    for (const hook of this.onPublish) {
      try {
        const result = hook.onPublish!(client, hookMessage(current));
        if (result === null) return null;
        // The hook may keep and change what it returned: the broker keeps its own copy.
        if (result !== undefined) current = { ...current, ...result, payload: result.payload.slice() };
      } catch (err) {
        this.#log.warn("onPublish hook failed: {error}; message dropped", { error: String(err) });
        return null;
      }
    }
    return current;
  }

  /**
   * Asks decision hooks in order; the first definite answer wins. A hook that throws
   * or whose promise takes longer than `timeoutMs` (on the broker's clock) counts as a
   * denial (`onFailure`); a synchronous answer needs no timer.
   */
  async decide<T>(
    name: "authenticate" | "authorizePublish" | "authorizeSubscribe",
    call: (hook: BrokerHook) => PromiseLike<T | undefined> | T | undefined,
    onFailure: T,
    timeoutMs: number = this.#timeoutMs,
  ): Promise<T | undefined> {
    for (const hook of this[name]) {
      let result: T | undefined | typeof TIMED_OUT;
      try {
        const answer = call(hook);
        result = isThenable(answer) ? await this.#within(answer, timeoutMs) : answer;
      } catch (err) {
        this.#log.warn("Hook {hook} failed: {error}; treated as a denial", {
          hook: name,
          error: String(err),
        });
        return onFailure;
      }
      if (result === TIMED_OUT) {
        this.#log.warn("Hook {hook} timed out: treated as a denial", { hook: name });
        return onFailure;
      }
      if (result !== undefined) return result;
    }
    return undefined;
  }

  /** `answer`, or TIMED_OUT once `ms` have passed on the broker's clock. */
  #within<T>(answer: PromiseLike<T>, ms: number): Promise<T | typeof TIMED_OUT> {
    const clock = this.#clock;
    return new Promise((resolve, reject) => {
      const timer = clock.setTimer(() => resolve(TIMED_OUT), ms);
      answer.then(
        (value) => {
          clock.clearTimer(timer);
          resolve(value);
        },
        (err) => {
          clock.clearTimer(timer);
          reject(err);
        },
      );
    });
  }
}

const TIMED_OUT: unique symbol = Symbol("timed out");

function isThenable<T>(value: PromiseLike<T> | T): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === "function";
}

/** Converts a stored message to the hook view. */
export function hookMessage(m: StoredMessage): HookMessage {
  return { topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, properties: m.properties };
}

export type { Access };
