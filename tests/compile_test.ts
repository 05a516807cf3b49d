/**
 * `deno task compile`: one executable holding main.ts and the embedded default
 * configuration. `deno compile` downloads Deno's runtime (denort) on first use;
 * where that download is impossible the binary test is skipped with the reason,
 * and what can be checked offline is checked against main.ts itself.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import denoJson from "../deno.json" with { type: "json" };
import { type BrokerProcess, freePort, launch } from "./_helpers/broker_process.ts";

const root = new URL("../", import.meta.url).pathname;

/** The words of a task (the tasks in deno.json hold no quoted arguments). */
function words(task: string): string[] {
  return task.split(/\s+/).filter((w) => w !== "");
}

/** Permission and unstable flags of a task, sorted. */
function flagsOf(task: string): string[] {
  return words(task).filter((w) => /^--(allow|deny|unstable)-/.test(w)).sort();
}

/** Runs a command for at most `timeoutMs`, without Rust backtraces in what it prints. */
async function runBounded(args: string[], timeoutMs: number, cwd = root) {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/**
 * Why `deno compile` cannot work here, or undefined when it can: compiles a one-line
 * program (no type check) once, within 60 s. Only a failure to fetch the runtime counts;
 * any other failure is left for the real test to report.
 */
async function whyCompileIsUnavailable(): Promise<string | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "compile-probe-" });
  try {
    await Deno.writeTextFile(`${dir}/probe.ts`, "console.log('probe');\n");
    const out = await runBounded(
      ["compile", "--no-check", "--output", `${dir}/probe`, `${dir}/probe.ts`],
      60_000,
    );
    if (out.code === 0) return undefined;
    const fetching = /Download|error sending request|dns error|dl\.deno\.land/i;
    if (!fetching.test(out.stderr)) return undefined;
    const cause = out.stderr.split("\n").find((l) => /error sending request|dns|timed out/i.test(l));
    return `deno compile cannot download its runtime here (${(cause ?? "no network").trim()})`;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Whether a port on 127.0.0.1 can be bound right now. */
function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** Subscribes, publishes QoS 1 to itself, and returns what came back. */
async function roundTrip(port: number): Promise<string> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  try {
    await client.subscribeAsync("compiled/+", { qos: 1 });
    const received = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no message within 5 s")), 5000);
      client.once("message", (topic, payload) => {
        clearTimeout(timer);
        resolve(`${topic} ${payload}`);
      });
    });
    await client.publishAsync("compiled/hello", "hi", { qos: 1 });
    return await received;
  } finally {
    await client.endAsync();
  }
}

/** Serves one MQTT round trip from a started program, then stops it with SIGTERM. */
async function exerciseAndStop(program: BrokerProcess): Promise<void> {
  let status: Deno.CommandStatus | undefined;
  try {
    assert.equal(await roundTrip(program.port), "compiled/hello hi");
  } finally {
    status = await program.stop();
  }
  assert.equal(status.code, 0, program.output());
  assert.match(program.output(), /Broker stopped/);
}

// The embedded default listens on fixed ports besides the first one (ws 8083, admin 18083).
const busy = [8083, 18083].filter((p) => !portFree(p));
const portsBusy = busy.length > 0 ? `ports ${busy.join(", ")} are in use on this machine` : undefined;
if (portsBusy) console.warn(`compile_test: default-config runs skipped: ${portsBusy}`);
const compileUnavailable = await whyCompileIsUnavailable();
if (compileUnavailable) console.warn(`compile_test: binary test skipped: ${compileUnavailable}`);

Deno.test("the compile task grants exactly the flags and permissions of the start task, for main.ts", () => {
  const { start, compile } = denoJson.tasks;
  assert.deepEqual(flagsOf(compile), flagsOf(start));
  assert.ok(flagsOf(compile).includes("--unstable-kv"), "the default configuration persists in Deno KV");
  assert.equal(words(compile).at(-1), "main.ts");
  assert.equal(words(start).at(-1), "main.ts");
  assert.equal(words(compile)[words(compile).indexOf("--output") + 1], "dist/deno-mqtt");
});

Deno.test({
  name: "main.ts under the compile task's permissions serves MQTT with the embedded default configuration",
  ignore: portsBusy !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "compiled-entry-" });
    try {
      const port = freePort();
      const args = ["run", ...flagsOf(denoJson.tasks.compile), `${root}main.ts`, "--port", `${port}`];
      await exerciseAndStop(await launch(Deno.execPath(), args, { port, dir }));
      // The default keeps its state in ./data/ of the working directory.
      assert.ok((await Deno.stat(`${dir}/data/broker.kv`)).isFile);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the binary built by the compile task serves MQTT with its embedded default and stops on SIGTERM",
  ignore: compileUnavailable !== undefined || portsBusy !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "compiled-binary-" });
    try {
      const args = words(denoJson.tasks.compile).slice(1);
      args[args.indexOf("--output") + 1] = `${dir}/deno-mqtt`;
      const built = await runBounded(args, 180_000);
      assert.equal(built.code, 0, built.stderr);
      const port = freePort();
      await exerciseAndStop(await launch(`${dir}/deno-mqtt`, ["--port", `${port}`], { port, dir }));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
