/**
 * A real Mosquitto broker for interop tests: on a free port of 127.0.0.1 (or a
 * given one, to restart it in place), anonymous clients allowed, optionally
 * persistent. Tests skip with a message when `mosquitto` is not installed.
 */
import { freePort } from "./broker_process.ts";

/** Whether the `mosquitto` broker can be run here. */
export const mosquittoAvailable: boolean = await new Deno.Command("mosquitto", {
  args: ["-h"],
  stdout: "null",
  stderr: "null",
}).output().then(() => true, () => false);

export interface MosquittoProcess {
  readonly port: number;
  readonly dir: string;
  /** What mosquitto logged so far. */
  output(): string;
  /** SIGTERM (a persistent mosquitto saves its database) and wait for the exit. */
  stop(): Promise<void>;
}

export interface MosquittoOptions {
  port?: number;
  /** Directory for the configuration and the persistence database (reuse it to restart). */
  dir?: string;
  /** Keep sessions and queued messages across restarts. */
  persistence?: boolean;
  /** More configuration lines (e.g. a bridge `connection` section). */
  extra?: string[];
  /** Clients without a user name may connect (default true). */
  allowAnonymous?: boolean;
}

/** Starts mosquitto and waits until its port accepts connections. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoProcess> {
  const port = options.port ?? freePort();
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "mosquitto-" });
  const lines = [
    `listener ${port} 127.0.0.1`,
    `allow_anonymous ${options.allowAnonymous ?? true}`,
    "log_dest stderr",
    "log_type all",
  ];
  if (options.persistence) {
    lines.push("persistence true", `persistence_location ${dir}/`);
    // Started as root, mosquitto drops to its own user: that user must be able to write the database.
    await Deno.chmod(dir, 0o777);
  }
  lines.push(...(options.extra ?? []));
  await Deno.writeTextFile(`${dir}/mosquitto.conf`, lines.join("\n") + "\n");
  const child = new Deno.Command("mosquitto", {
    args: ["-c", `${dir}/mosquitto.conf`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const drain = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) text += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited || Date.now() > deadline) throw new Error(`mosquitto did not start on ${port}:\n${text}`);
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 30));
    }
  }
  return {
    port,
    dir,
    output: () => text,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await child.status;
      await drained;
    },
  };
}
