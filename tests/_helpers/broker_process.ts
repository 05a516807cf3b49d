/**
 * Runs the real broker (main.ts) as a child process for interop and crash
 * tests: a free port on 127.0.0.1, a temporary YAML config, and helpers to stop
 * it gracefully or kill it.
 */

const root = new URL("../../", import.meta.url).pathname;

/** Ports freePort() gave in this test process. */
const handedOut = new Set<number>();

/**
 * Ports below the kernel's ephemeral range: a port there is never taken by the local end of
 * an outgoing connection (a load generator, another test's clients) between the moment it
 * was found free and the moment a broker binds it, which ports from `port: 0` can be.
 */
const FIXED_PORTS = { from: 20_000, to: 32_000 };

/**
 * A port that was free a moment ago on 127.0.0.1, and not handed out before by this process,
 * picked at random below the ephemeral range (other test processes pick too: random keeps
 * two of them from walking the same sequence).
 */
export function freePort(): number {
  for (;;) {
    const port = FIXED_PORTS.from + Math.floor(Math.random() * (FIXED_PORTS.to - FIXED_PORTS.from));
    if (handedOut.has(port) || !bindable(port)) continue;
    handedOut.add(port);
    return port;
  }
}

function bindable(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

export interface BrokerProcess {
  readonly port: number;
  readonly dir: string;
  readonly child: Deno.ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<Deno.CommandStatus>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<Deno.CommandStatus>;
}

export interface StartOptions {
  /** Extra YAML appended after the listener (e.g. a persistence section). Defaults to in-memory persistence. */
  yaml?: string;
  port?: number;
  /** Reuse a directory (to restart on the same KV file). */
  dir?: string;
  args?: string[];
  /**
   * Runs the broker under `nice -n <niceness>`: tests that start many processes use it so
   * that their load does not disturb the timing-sensitive tests running beside them.
   */
  niceness?: number;
}

async function waitForPort(
  port: number,
  child: Deno.ChildProcess,
  timeoutMs: number,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.status.then(() => exited = true);
  while (Date.now() < deadline) {
    if (exited) throw new Error(`broker exited before listening:\n${output()}`);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`broker did not listen on ${port} within ${timeoutMs} ms:\n${output()}`);
}

/** Starts `main.ts --config <tmp>/broker.yaml` and waits until the port accepts connections. */
export async function startBroker(options: StartOptions = {}): Promise<BrokerProcess> {
  const port = options.port ?? freePort();
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "mqtt-broker-" });
  // Extra YAML starting with "  - " adds listeners after the tcp one; anything else follows as top-level keys.
  const yaml = `listeners:\n  - { type: tcp, host: 127.0.0.1, port: ${port} }\n` +
    (options.yaml ?? "persistence:\n  type: memory\n");
  const config = `${dir}/broker.yaml`;
  await Deno.writeTextFile(config, yaml);
  const args = mainArgs(config, options.args);
  // nice execs the program, so the child's pid (and kill()) is the broker's own.
  if (options.niceness !== undefined) {
    return await launch("nice", ["-n", String(options.niceness), Deno.execPath(), ...args], { port, dir });
  }
  return await launch(Deno.execPath(), args, { port, dir });
}

/**
 * Runs main.ts with `yaml` as its whole configuration under a lowered open-file limit
 * (`ulimit -n`), in a fresh directory, and waits until `port` accepts.
 */
export async function startLimitedBroker(
  yaml: string,
  options: { port: number; openFiles: number },
): Promise<BrokerProcess> {
  const dir = await Deno.makeTempDir({ prefix: "mqtt-limited-" });
  const config = `${dir}/broker.yaml`;
  await Deno.writeTextFile(config, yaml);
  // sh execs deno ("$0" and its arguments), so the child's pid (and its /proc entries) are the broker's own.
  const script = `ulimit -n ${options.openFiles} && exec "$0" "$@"`;
  return await launch("sh", ["-c", script, Deno.execPath(), ...mainArgs(config)], {
    port: options.port,
    dir,
  });
}

/** `deno` arguments that run main.ts on `config`. */
function mainArgs(config: string, extra: string[] = []): string[] {
  return ["run", "--unstable-kv", "-A", `${root}main.ts`, "--config", config, ...extra];
}

/**
 * Spawns any broker program (main.ts under some flags, a compiled binary) in `dir` and
 * waits until `port` accepts connections.
 */
export async function launch(
  command: string,
  args: string[],
  options: { port: number; dir: string },
): Promise<BrokerProcess> {
  const { port, dir } = options;
  const child = new Deno.Command(command, {
    args,
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const done = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const output = () => text;
  await waitForPort(port, child, 20_000, output);
  const finish = async (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // already exited
    }
    const status = await child.status;
    await done;
    return status;
  };
  return { port, dir, child, output, stop: () => finish("SIGTERM"), kill: () => finish("SIGKILL") };
}

/** Whether an executable is on PATH. */
export async function hasCommand(name: string): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("sh", {
      args: ["-c", `command -v ${name}`],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return success;
  } catch {
    return false;
  }
}

/** Runs a command with a time limit; returns its output and exit code. */
export async function run(
  cmd: string,
  args: string[],
  timeoutMs = 10_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
  }, timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}
