/**
 * The entry for hosts that run an HTTP handler (Deno Deploy, `deno serve`): MQTT over
 * WebSocket at /mqtt, state in the host's Deno KV, and delivery between the host's
 * isolates over a BroadcastChannel. See docs/deploy.md for what this mode guarantees.
 *
 * Environment (all optional):
 *   MQTT_PASSWORDS  password-file lines (`deno task passwd`); when set, clients must log in
 *   MQTT_KV_PATH    a KV file instead of the host's default KV (local runs)
 *   MQTT_CHANNEL    the BroadcastChannel name (default "deno-mqtt")
 *   MQTT_LOG_LEVEL  trace | debug | info | warning | error | fatal (default info)
 */
import { FileAuthenticator } from "./src/auth/file_authenticator.ts";
import type { LogLevelName } from "./src/config/schema.ts";
import { configureLogging } from "./src/log/logging.ts";
import { startServerless } from "./src/serverless/serverless.ts";

const env = (name: string) => Deno.env.get(name) || undefined;

await configureLogging({
  level: (env("MQTT_LOG_LEVEL") ?? "info") as LogLevelName,
  format: "text",
  categories: {},
  payloads: false,
});
const passwords = env("MQTT_PASSWORDS");
const authenticator = passwords === undefined
  ? undefined
  : new FileAuthenticator({ passwordText: passwords, allowAnonymous: () => false });
await authenticator?.reload();

const app = await startServerless({
  kvPath: env("MQTT_KV_PATH"),
  channel: env("MQTT_CHANNEL"),
  broker: { authenticator },
});

// Run locally, `deno serve` stops serving on a signal but the channel and KV would keep the
// process alive: close them and exit. Hosts without signals (Deno Deploy) refuse the listener.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  try {
    Deno.addSignalListener(signal, () => void app.close().finally(() => Deno.exit(0)));
  } catch {
    // no signals here
  }
}

export default { fetch: app.fetch } satisfies Deno.ServeDefaultExport;
