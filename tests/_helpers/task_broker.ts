/**
 * Runs main.ts the way `deno task start` does: with exactly the permission flags of
 * deno.json's `start` task (not -A), so that tests see what the task's permissions
 * allow and forbid.
 */
import denoJson from "../../deno.json" with { type: "json" };
import { type BrokerProcess, freePort, launch } from "./broker_process.ts";

const root = new URL("../../", import.meta.url).pathname;

/** The flags between `deno run` and `main.ts` in the start task. */
export function startTaskFlags(): string[] {
  const words = denoJson.tasks.start.split(/\s+/);
  const run = words.indexOf("run");
  const main = words.indexOf("main.ts");
  if (words[0] !== "deno" || run < 0 || main < run) {
    throw new Error(`unexpected start task: ${denoJson.tasks.start}`);
  }
  return words.slice(run + 1, main);
}

/** Starts the broker under the start task's flags with a tcp listener on `port` plus `yaml`. */
export async function startAsTask(
  options: { yaml: string; dir: string; port?: number; configName?: string },
): Promise<BrokerProcess> {
  const port = options.port ?? freePort();
  const config = `${options.dir}/${options.configName ?? "broker.yaml"}`;
  await Deno.writeTextFile(
    config,
    `listeners:\n  - { type: tcp, host: 127.0.0.1, port: ${port} }\n${options.yaml}`,
  );
  const args = ["run", ...startTaskFlags(), `${root}main.ts`, "--config", config];
  return await launch(Deno.execPath(), args, { port, dir: options.dir });
}

/** Runs the broker under the start task's flags until it exits by itself (e.g. refused to start). */
export async function runAsTaskToExit(
  options: { yaml: string; dir: string; port?: number; configName?: string; timeoutMs?: number },
): Promise<{ code: number; output: string }> {
  const port = options.port ?? freePort();
  const config = `${options.dir}/${options.configName ?? "broker.yaml"}`;
  await Deno.writeTextFile(
    config,
    `listeners:\n  - { type: tcp, host: 127.0.0.1, port: ${port} }\n${options.yaml}`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...startTaskFlags(), `${root}main.ts`, "--config", config],
    cwd: options.dir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 20_000);
  const out = await child.output();
  clearTimeout(timer);
  const d = new TextDecoder();
  return { code: out.code, output: d.decode(out.stdout) + d.decode(out.stderr) };
}
