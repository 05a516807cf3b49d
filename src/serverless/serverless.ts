/**
 * The broker for hosts that expose only an HTTP handler (Deno Deploy, `deno serve`):
 * MQTT over WebSocket answered from `fetch`, state in the host's Deno KV, and
 * delivery between the host's isolates over a BroadcastChannel. The host owns the
 * HTTP server, so there are no listeners, no admin server and no $SYS timer here.
 *
 * @module
 */
import { Broker } from "../public_broker.ts";
import type { BrokerOptions } from "../broker/options.ts";
import { upgradeToMqtt } from "../transport/websocket.ts";
import { BroadcastBridge } from "./broadcast_bridge.ts";
import { SharedKvStore } from "./shared_kv_store.ts";

/**
 * Where a serverless instance keeps its state and how it serves.
 *
 * @example
 * ```ts
 * import type { ServerlessOptions } from "../serverless_mod.ts";
 * const options: ServerlessOptions = { path: "/mqtt", channel: "my-app", broker: { limits: { maxConnections: 1000 } } };
 * console.log(options.path);
 * ```
 */
export interface ServerlessOptions {
  /** KV file; undefined opens the host's default KV (`Deno.openKv()`), as on Deno Deploy. */
  kvPath?: string;
  /** An already opened KV instead (embedding, tests). */
  kv?: Deno.Kv;
  /** BroadcastChannel name shared by the instances (default "deno-mqtt"). */
  channel?: string;
  /** HTTP path that upgrades to MQTT (default "/mqtt"). */
  path?: string;
  /** Engine options (limits, protocol features, authentication); the store is the shared KV. */
  broker?: Omit<BrokerOptions, "store">;
}

/**
 * A started serverless broker: hand its `fetch` to the host.
 *
 * @example
 * ```ts
 * import { startServerless } from "../serverless_mod.ts";
 * const dir = await Deno.makeTempDir();
 * const app = await startServerless({ kvPath: `${dir}/mqtt.kv`, channel: "doc-example" });
 * console.log(app.broker.admin.sizes().sessions, app.bridge.instanceId);
 * await app.close();
 * ```
 */
export interface ServerlessBroker {
  /** This isolate's broker. */
  readonly broker: Broker;
  /** This isolate's link to the other isolates. */
  readonly bridge: BroadcastBridge;
  /** Answers one HTTP request: MQTT over WebSocket on the path, a short text elsewhere. */
  fetch(req: Request, info?: Deno.ServeHandlerInfo): Response;
  /** Closes the clients, the channel and the store. */
  close(): Promise<void>;
}

/** "host:port" of the peer when the host tells it (Deno.serve, deno serve, Deploy). */
function remoteAddressOf(info: Deno.ServeHandlerInfo | undefined): string {
  const addr = info?.remoteAddr as Deno.NetAddr | undefined;
  return addr?.hostname === undefined ? "unknown" : `${addr.hostname}:${addr.port}`;
}

/**
 * Starts a broker instance for this isolate.
 *
 * @example
 * ```ts
 * import { startServerless } from "./serverless.ts";
 * const dir = await Deno.makeTempDir();
 * const app = await startServerless({ kvPath: `${dir}/mqtt.kv`, channel: "example" });
 * const server = Deno.serve({ port: 0, onListen() {} }, app.fetch);
 * // clients connect to ws://host:port/mqtt with the "mqtt" subprotocol
 * await server.shutdown();
 * await app.close();
 * ```
 */
export async function startServerless(options: ServerlessOptions = {}): Promise<ServerlessBroker> {
  const path = options.path ?? "/mqtt";
  const store = new SharedKvStore({ path: options.kvPath, kv: options.kv });
  // Isolates have little memory and every forwarded message is cloned once per peer.
  const mqtt = { maxPacketSize: 1024 * 1024, ...options.broker?.mqtt };
  // Durable: a QoS 1/2 acknowledgement waits for KV, as on the program's default.
  const broker = new Broker({ durability: "durable", ...options.broker, mqtt, store });
  const bridge = new BroadcastBridge(broker, { channel: options.channel, store });
  try {
    await broker.start();
    await bridge.ready();
  } catch (err) {
    bridge.close();
    throw err;
  }
  const name = `serverless:${path}`;
  // Framed at the configured size; a lower limits.maxPartialPacketBytes is enforced by the engine.
  const maxPacketSize = mqtt.maxPacketSize;
  return {
    broker,
    bridge,
    fetch(req, info) {
      if (new URL(req.url).pathname !== path) {
        return new Response(`deno-mqtt: MQTT over WebSocket at ${path}\n`, { status: 404 });
      }
      try {
        const remoteAddress = remoteAddressOf(info);
        return upgradeToMqtt(
          req,
          { path, name, remoteAddress, framing: { maxPacketSize } },
          (s) => broker.handle(s),
        );
      } catch {
        // A broken upgrade request fails alone.
        return new Response("bad request", { status: 400 });
      }
    },
    async close() {
      bridge.close();
      await broker.close();
    },
  };
}
