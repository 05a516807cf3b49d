/**
 * Maps the validated configuration onto the engine's options (the `mqtt` and
 * `limits` sections map in src/broker/options.ts, beside the defaults they give).
 *
 * @module
 */
import { type BrokerOptions, limitOptions, mqttOptions } from "../broker/options.ts";
import type { BrokerConfig } from "./schema.ts";

/** Everything but the store, clock and security objects, which the server builds. */
export function brokerOptionsFrom(config: BrokerConfig): BrokerOptions {
  return {
    durability: config.persistence.durability,
    foreignSession: config.auth.foreign_session,
    mqtt: mqttOptions(config.mqtt),
    limits: limitOptions(config.limits),
  };
}

export { limitOptions, mqttOptions };
