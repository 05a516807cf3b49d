/**
 * The broker program as a library (`@deno-mqtt/broker/server`): read and validate a
 * YAML configuration, then start everything it describes (store, security, listeners,
 * bridges, $SYS, the admin API, and cluster mode when `cluster.nats.servers` is set,
 * whose code is loaded only then). main.ts is this plus flags and signals.
 *
 * @example Start the broker a configuration describes
 * ```ts
 * import { parseConfig, startServer } from "./server_mod.ts";
 *
 * const config = parseConfig("listeners:\n  - { port: 0 }\npersistence: { type: memory }\n", "inline.yaml");
 * const server = await startServer(config);
 * console.log(`MQTT on port ${server.listeners[0].port}`);
 * await server.close();
 * ```
 *
 * @module
 */

export { type Listener, type Server, type ServerOptions, startServer } from "./server.ts";
export {
  ConfigError,
  type ConfigProblem,
  loadConfig,
  parseConfig,
  type ParseOptions,
} from "./config/load_config.ts";
export {
  type BridgeConfig,
  bridgeSchema,
  type BridgeTopicConfig,
  bridgeTopicSchema,
  type BrokerConfig,
  configSchema,
  type Field,
  type Infer,
  type InferSection,
  type ListenerConfig,
  listenerSchema,
  type LogLevelName,
  type ObjectField,
} from "./config/schema.ts";
export type { BridgeStatus } from "./bridge/bridge.ts";
export type { AdminServer } from "./admin/admin_server.ts";
export type { TransportCounters } from "./admin/metrics.ts";
