/**
 * `deno task serverless`: serverless.ts served by itself on an address given as
 * flags, for running the serverless mode locally. The task passes its default
 * address (`--host 127.0.0.1 --port 8000`); flags given to the task follow and
 * the last of each wins, e.g. `deno task serverless --port 9000`. (serverless.ts
 * itself only exports its fetch handler, for `deno serve` and Deno Deploy, where
 * the host owns the address.)
 */
import { parseServeFlags, SERVE_USAGE } from "./src/serverless/serve_flags.ts";

const flags = parseServeFlags(Deno.args);
if ("error" in flags || flags.help || flags.listen === undefined) {
  if ("error" in flags) console.error(`${flags.error}\n`);
  console.error(SERVE_USAGE);
  Deno.exit("error" in flags ? 2 : 0);
}
const { hostname, port } = flags.listen;
// Imported only now: it starts the broker (and installs the signal handlers that stop it).
const { default: app } = await import("./serverless.ts");
Deno.serve({
  hostname,
  port,
  onListen: (addr) => console.log(`MQTT over WebSocket on ws://${addr.hostname}:${addr.port}/mqtt`),
}, app.fetch);
