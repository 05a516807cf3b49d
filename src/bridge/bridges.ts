/**
 * The configured bridges of a server: built from `bridges:` in the
 * configuration, started after the listeners and stopped before the engine
 * closes, so that their local sessions are left cleanly, queues intact.
 *
 * @module
 */
import type { BridgeEngine } from "./local_link.ts";
import type { Authenticator, Authorizer } from "../broker/security.ts";
import type { BridgeConfig } from "../config/schema.ts";
import { Bridge, type BridgeOptions, type BridgeStatus } from "./bridge.ts";
import { BridgeTrust } from "./local_link.ts";

export class Bridges {
  readonly #trust: BridgeTrust;
  readonly #configs: readonly BridgeConfig[];
  readonly #options: BridgeOptions;
  #bridges: Bridge[] = [];

  constructor(configs: readonly BridgeConfig[], options: BridgeOptions = {}) {
    this.#configs = configs;
    this.#options = options;
    this.#trust = new BridgeTrust(configs.map((c) => c.name));
  }

  /** The server's authenticator, letting in the bridges' local sessions (and refusing impostors). */
  authenticator(inner: Authenticator | undefined): Authenticator {
    return this.#trust.authenticator(inner);
  }

  /** The server's authorizer, allowing the bridges' local sessions every topic. */
  authorizer(inner: Authorizer | undefined): Authorizer {
    return this.#trust.authorizer(inner);
  }

  /** Starts every bridge on `broker` (each then connects in the background). */
  async start(broker: BridgeEngine): Promise<void> {
    this.#bridges = this.#configs.map((c) => new Bridge(broker, c, this.#trust, this.#options));
    await Promise.all(this.#bridges.map((b) => b.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#bridges.map((b) => b.stop()));
  }

  /** Each bridge's state and counters, in configuration order. */
  status(): readonly BridgeStatus[] {
    return this.#bridges;
  }
}
