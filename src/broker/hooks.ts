/**
 * Hooks: one typed interface of optional methods that embedders implement to
 * observe or steer the broker. They run in registration order from arrays built
 * once at registration, so a broker without hooks pays one length check.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Properties, QoS } from "../protocol/packet.ts";
import type { StoredMessage } from "../persistence/store.ts";
import type { Access, AuthResult, ConnectInfo } from "./security.ts";
import type { DropReason } from "./stats.ts";

/** A client as hooks see it. */
export interface HookClient {
  clientId: string;
  username?: string;
  remoteAddress: string;
  protocolLevel: number;
}

/** A message as hooks see it (and may rewrite). */
export interface HookMessage {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  properties?: Properties;
}

/** Every method is optional; implement only what you need. */
export interface BrokerHook {
  /** Returning a result decides; returning undefined defers to the next hook / the authenticator. */
  authenticate?(info: ConnectInfo): Promise<AuthResult | undefined> | AuthResult | undefined;
  /** false denies; undefined defers. */
  authorizePublish?(client: HookClient, topic: string): Promise<boolean | undefined> | boolean | undefined;
  authorizeSubscribe?(client: HookClient, filter: string): Promise<boolean | undefined> | boolean | undefined;
  onConnect?(client: HookClient): void | Promise<void>;
  onDisconnect?(client: HookClient, reason: string): void | Promise<void>;
  onSubscribe?(client: HookClient, filter: string, qos: number): void | Promise<void>;
  onUnsubscribe?(client: HookClient, filter: string): void | Promise<void>;
  /** May return a rewritten message, or null to drop it. */
  onPublish?(client: HookClient | null, message: HookMessage): HookMessage | null | void;
  /**
   * A message was routed: accepted from a client (`client`) or published by the broker
   * itself (`null`: {@link Broker.publish}, the API, wills; never $SYS updates). The payload
   * may be a view into a read buffer that is reused after the call: copy what you keep.
   */
  onPublished?(client: HookClient | null, message: HookMessage): void;
  onDeliver?(clientId: string, message: HookMessage): void;
  onAck?(clientId: string, packetId: number): void;
  onMessageDropped?(clientId: string, topic: string, reason: DropReason): void;
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

  constructor(log: Logger, timeoutMs = 5000) {
    this.#log = log;
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
   * Asks decision hooks in order; the first definite answer wins. A hook that throws
   * or takes longer than `timeoutMs` counts as a denial (`onFailure`).
   */
  async decide<T>(
    name: "authenticate" | "authorizePublish" | "authorizeSubscribe",
    call: (hook: BrokerHook) => Promise<T | undefined> | T | undefined,
    onFailure: T,
    timeoutMs: number = this.#timeoutMs,
  ): Promise<T | undefined> {
    for (const hook of this[name]) {
      try {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), timeoutMs);
        });
        const result = await Promise.race([Promise.resolve(call(hook)), timeout]);
        clearTimeout(timer);
        if (result === "timeout") {
          this.#log.warn("Hook {hook} timed out: treated as a denial", { hook: name });
          return onFailure;
        }
        if (result !== undefined) return result as T;
      } catch (err) {
        this.#log.warn("Hook {hook} failed: {error}; treated as a denial", {
          hook: name,
          error: String(err),
        });
        return onFailure;
      }
    }
    return undefined;
  }
}

/** Converts a stored message to the hook view. */
export function hookMessage(m: StoredMessage): HookMessage {
  return { topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, properties: m.properties };
}

export type { Access };
