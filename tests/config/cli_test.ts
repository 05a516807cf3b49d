import assert from "node:assert/strict";
import { parseArgs } from "../../src/config/cli.ts";

Deno.test("command-line flags are parsed", () => {
  assert.deepEqual(
    parseArgs(["--config", "b.yaml", "--log-level", "debug", "--port=1999", "--check-config"]),
    {
      help: false,
      version: false,
      checkConfig: true,
      config: "b.yaml",
      logLevel: "debug",
      port: 1999,
    },
  );
  assert.equal((parseArgs(["-h"]) as { help: boolean }).help, true);
});

Deno.test("unknown flags and bad values are errors", () => {
  assert.deepEqual(parseArgs(["--nope"]), { error: "unknown argument --nope" });
  assert.ok("error" in parseArgs(["--port", "70000"]));
  assert.ok("error" in parseArgs(["--log-level", "loud"]));
  assert.ok("error" in parseArgs(["--config"]));
});

Deno.test("a leading -- (what `deno task start -- …` passes on) is skipped", () => {
  assert.deepEqual(parseArgs(["--", "--config", "b.yaml"]), {
    help: false,
    version: false,
    checkConfig: false,
    config: "b.yaml",
  });
});
