/**
 * Runs a scenario on both brokers, each started fresh on 127.0.0.1 from the
 * scenario's one configuration: this broker as a child process of main.ts (so
 * the real configuration path is exercised), Mosquitto from Debian.
 *
 * Ports: with a hundred brokers starting while other test files start theirs, a
 * port that was free a moment ago is sometimes taken by another process before
 * the broker binds it, and the broker that failed to bind must not be mistaken
 * for the one that answers. This broker therefore listens on port 0 and the port
 * is read from its log; Mosquitto (which cannot listen on port 0) counts as
 * started only once it logged that it is running, and is started again on
 * another port otherwise.
 */
import { startMosquitto } from "../_helpers/mosquitto.ts";
import {
  type ConfigFiles,
  renderMosquittoConf,
  renderYaml,
  type SharedConfig,
  writeConfigFiles,
} from "./broker_config.ts";
import { type Observations, runScenario } from "./runner.ts";
import type { Scenario } from "./scenario.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const START_MS = 20_000;

export interface BothObservations {
  ours: Observations;
  mosquitto: Observations;
}

interface Running {
  port: number;
  output(): string;
  stop(): Promise<void>;
}

/** Waits until `ready` finds what it needs in the output, or throws once the process ended or time is up. */
async function waitForOutput<T>(
  output: () => string,
  exited: () => boolean,
  ready: (text: string) => T | undefined,
  what: string,
): Promise<T> {
  const deadline = Date.now() + START_MS;
  for (;;) {
    const found = ready(output());
    if (found !== undefined) return found;
    if (exited() || Date.now() > deadline) throw new Error(`${what} did not start:\n${output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** main.ts with the rendered YAML, listening on a port the kernel picks. */
async function startOurs(config: SharedConfig, files: ConfigFiles): Promise<Running> {
  const path = `${files.dir}/broker.yaml`;
  const listener = "listeners:\n  - { type: tcp, host: 127.0.0.1, port: 0 }\n";
  await Deno.writeTextFile(path, listener + renderYaml(config, files));
  // Under nice: a hundred broker processes must not starve the timing-sensitive tests beside them.
  // nice execs the program, so the child's pid (and the SIGTERM) is the broker's own.
  const child = new Deno.Command("nice", {
    args: ["-n", "10", Deno.execPath(), "run", "--unstable-kv", "-A", MAIN, "--config", path],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let exited = false;
  child.status.then(() => exited = true);
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    await child.status;
    await drained;
  };
  try {
    const port = await waitForOutput(() => text, () => exited, (t) => {
      const m = t.match(/Listening on tcp 127\.0\.0\.1:(\d+)/);
      return m === null ? undefined : Number(m[1]);
    }, "this broker");
    return { port, output: () => text, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Mosquitto with the rendered configuration, started again on another port if its port was taken. */
async function startTheirs(config: SharedConfig, files: ConfigFiles): Promise<Running> {
  for (let attempt = 1;; attempt++) {
    const broker = await startMosquitto({
      allowAnonymous: config.allowAnonymous ?? true,
      extra: renderMosquittoConf(config, files),
    }).catch((err) => err as Error);
    if (!(broker instanceof Error)) {
      const running = await waitForOutput(
        broker.output,
        () => /Error: /.test(broker.output()),
        (t) => /mosquitto version [\d.]+ running/.test(t) ? true : undefined,
        "mosquitto",
      ).catch(() => false);
      const stop = async () => {
        await broker.stop();
        await Deno.remove(broker.dir, { recursive: true });
      };
      if (running) return { port: broker.port, output: broker.output, stop };
      await stop();
    }
    if (attempt === 5) {
      throw new Error(
        `mosquitto did not start: ${broker instanceof Error ? broker.message : broker.output()}`,
      );
    }
  }
}

async function runOn(start: () => Promise<Running>, scenario: Scenario): Promise<Observations> {
  const broker = await start();
  try {
    return await runScenario(scenario, broker.port);
  } finally {
    await broker.stop();
  }
}

/** Runs `scenario` against this broker and against Mosquitto, at the same time. */
export async function runOnBoth(scenario: Scenario): Promise<BothObservations> {
  const config = scenario.config ?? {};
  const files = await writeConfigFiles(config);
  try {
    const [ours, mosquitto] = await Promise.all([
      runOn(() => startOurs(config, files), scenario),
      runOn(() => startTheirs(config, files), scenario),
    ]);
    return { ours, mosquitto };
  } finally {
    await Deno.remove(files.dir, { recursive: true });
  }
}
