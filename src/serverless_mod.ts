/**
 * The mode for hosts that run an HTTP handler, such as Deno Deploy
 * (`@deno-mqtt/broker/serverless`): MQTT over WebSocket, state in the host's shared
 * Deno KV, and delivery between isolates over a BroadcastChannel (docs/deploy.md).
 * serverless.ts at the repository root is this with environment variables.
 *
 * @module
 */

export { type ServerlessBroker, type ServerlessOptions, startServerless } from "./serverless/serverless.ts";
export {
  type BridgeCounts,
  BroadcastBridge,
  type BroadcastBridgeOptions,
} from "./serverless/broadcast_bridge.ts";
export { SharedKvStore } from "./serverless/shared_kv_store.ts";
