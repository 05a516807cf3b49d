import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { parseServeFlags } from "../../src/serverless/serve_flags.ts";
import { freePort, launch } from "../_helpers/broker_process.ts";

const root = new URL("../../", import.meta.url).pathname;

Deno.test("serve flags: the last --host and --port win; none means the host serves; bad ones are errors", () => {
  assert.deepEqual(parseServeFlags([]), { help: false });
  assert.deepEqual(parseServeFlags(["--host", "127.0.0.1", "--port", "8000", "--port", "9000"]), {
    help: false,
    listen: { hostname: "127.0.0.1", port: 9000 },
  });
  assert.deepEqual(parseServeFlags(["--port=0"]), {
    help: false,
    listen: { hostname: "127.0.0.1", port: 0 },
  });
  assert.deepEqual(parseServeFlags(["--host", "0.0.0.0"]), {
    help: false,
    listen: { hostname: "0.0.0.0", port: 8000 },
  });
  assert.deepEqual(parseServeFlags(["-h"]), { help: true });
  assert.match((parseServeFlags(["--port", "70000"]) as { error: string }).error, /0\.\.65535/);
  assert.match((parseServeFlags(["--frob"]) as { error: string }).error, /unknown argument --frob/);
});

Deno.test({
  name: "deno task serverless --port N serves on N, as deno task appends the flags to the task's own",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "serverless-task-" });
    const port = freePort();
    // Exactly what `deno task serverless --port N` runs: the task's words, then the extra flags.
    const [, ...words] = denoJson.tasks.serverless.split(/\s+/);
    const args = [
      ...words.slice(0, 1),
      "--config",
      `${root}deno.json`,
      ...words.slice(1),
      "--port",
      `${port}`,
    ]
      .map((w) => w.endsWith(".ts") ? `${root}${w}` : w);
    const env = { MQTT_KV_PATH: `${dir}/mqtt.kv`, MQTT_CHANNEL: crypto.randomUUID() };
    for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
    let program;
    try {
      program = await launch(Deno.execPath(), args, { port, dir });
    } finally {
      for (const k of Object.keys(env)) Deno.env.delete(k);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/mqtt`);
      assert.equal(res.status, 426, "MQTT over WebSocket answers on the port given");
      await res.body?.cancel();
      assert.match(program.output(), new RegExp(`ws://127\\.0\\.0\\.1:${port}/mqtt`));
      assert.doesNotMatch(program.output(), /warning/i);
      assert.equal((await program.stop()).code, 0, program.output());
    } finally {
      await program.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
