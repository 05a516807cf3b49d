/**
 * Starts the brokers that compare_brokers.ts measures, each fresh on its own
 * port on 127.0.0.1: this project's main.ts (in-memory store), Mosquitto (the
 * shared benchmark config with the port changed) and, when the npm package can
 * be loaded, Aedes. Every child is tracked so that `killAll()` can end them on
 * any exit path.
 */

/**
 * `mosquitto-nodelay` is the shared config plus `set_tcp_nodelay true`, like this broker's sockets.
 * `deno-acl` and `mosquitto-acl` load the same ACL file ({@link BENCH_ACL}), which lets the
 * generator's anonymous clients use `bench/#` after a deny and beside other users' rules and
 * patterns, so that every publish and every delivery is checked against it.
 */
export type BrokerKind = "deno" | "deno-acl" | "mosquitto" | "mosquitto-acl" | "mosquitto-nodelay" | "aedes";
export const BROKER_KINDS: readonly BrokerKind[] = [
  "deno",
  "deno-acl",
  "mosquitto",
  "mosquitto-acl",
  "mosquitto-nodelay",
  "aedes",
];

/** The ACL of the `-acl` kinds: a realistic file whose anonymous block grants the bench topics. */
export const BENCH_ACL = `# anonymous clients (the load generator)
topic deny bench/secret/#
topic read $SYS/#
topic readwrite bench/#

user alice
topic readwrite home/alice/#
topic deny home/alice/secret
user bob
topic read sensors/#
topic write sensors/bob/+
user ops
topic readwrite #

pattern readwrite clients/%c/#
pattern deny clients/%c/private
pattern read users/%u/inbox
`;

async function writeBenchAcl(dir: string): Promise<string> {
  const path = `${dir}/bench.acl`;
  await Deno.writeTextFile(path, BENCH_ACL);
  // Started as root, mosquitto reads it as its own user.
  await Deno.chmod(dir, 0o755);
  await Deno.chmod(path, 0o644);
  return path;
}

export const AEDES_PACKAGE = "npm:aedes@1.2.0";

export interface RunningBroker {
  readonly port: number;
  /** The broker's process id, for reading its memory from /proc. */
  readonly pid: number;
  stop(): Promise<void>;
}

const root = new URL("../../../", import.meta.url).pathname;
export const toolDir = new URL("../../../../shared/tools/mqttload/", import.meta.url).pathname;
const START_TIMEOUT_MS = 20_000;
const live = new Set<Deno.ChildProcess>();

/** SIGKILLs every broker still running (used on errors and signals). */
export function killAll(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts one broker of `kind` in `dir` on a free port and waits until it accepts connections. */
export async function startBroker(kind: BrokerKind, dir: string): Promise<RunningBroker> {
  const port = freePort();
  const [cmd, args] = await commandFor(kind, port, dir);
  const child = new Deno.Command(cmd, { args, cwd: dir, stdout: "null", stderr: "piped" }).spawn();
  live.add(child);
  let stderr = "";
  const decoder = new TextDecoder();
  const collected = (async () => {
    for await (const chunk of child.stderr) stderr = (stderr + decoder.decode(chunk)).slice(-4000);
  })();
  const stop = async () => {
    if (live.delete(child)) child.kill("SIGKILL");
    await child.status;
    await collected.catch(() => {});
  };
  try {
    await waitForPort(port, child);
  } catch (err) {
    await stop();
    throw new Error(`${kind} did not start: ${(err as Error).message}\n${stderr}`);
  }
  return { port, pid: child.pid, stop };
}

async function commandFor(kind: BrokerKind, port: number, dir: string): Promise<[string, string[]]> {
  if (kind === "deno" || kind === "deno-acl") {
    const config = `${dir}/deno-${port}.yaml`;
    const auth = kind === "deno-acl"
      ? `auth: { allow_anonymous: true, acl_file: ${await writeBenchAcl(dir)} }\n`
      : "";
    // Queue limit as in the shared mosquitto.conf (max_queued_messages 100000), so neither drops by
    // configuration; no connection limit, as Mosquitto has none by default.
    await Deno.writeTextFile(
      config,
      `listeners:\n  - { type: tcp, host: 127.0.0.1, port: ${port} }\npersistence: { type: memory }\n` +
        `limits: { max_queued_messages: 100000, max_connections: 0 }\nlog: { level: warning }\n` + auth,
    );
    const perms = ["--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-sys"];
    return [Deno.execPath(), ["run", "--unstable-kv", ...perms, `${root}main.ts`, "--config", config]];
  }
  if (kind === "mosquitto" || kind === "mosquitto-nodelay" || kind === "mosquitto-acl") {
    const base = await Deno.readTextFile(`${toolDir}mosquitto.conf`);
    const config = `${dir}/mosquitto-${port}.conf`;
    const nodelay = kind === "mosquitto-nodelay" ? "set_tcp_nodelay true\n" : "";
    const acl = kind === "mosquitto-acl" ? `acl_file ${await writeBenchAcl(dir)}\n` : "";
    await Deno.writeTextFile(
      config,
      base.replace(/^listener \d+.*$/m, `listener ${port} 127.0.0.1`) + nodelay + acl,
    );
    return ["mosquitto", ["-c", config]];
  }
  return [Deno.execPath(), ["run", "-A", "--no-lock", await aedesScript(dir), `${port}`]];
}

/** A tiny Aedes launcher, outside the repository so that no deno.json or lock file applies. */
async function aedesScript(dir: string): Promise<string> {
  const path = `${dir}/aedes_broker.ts`;
  await Deno.writeTextFile(
    path,
    `import { Aedes } from "${AEDES_PACKAGE}";\nimport { createServer } from "node:net";\n` +
      `const broker = await Aedes.createBroker();\n` +
      `createServer(broker.handle).listen(Number(Deno.args[0]), "127.0.0.1");\n`,
  );
  return path;
}

/** Null when Aedes can be imported (fetching it from npm once if needed), else why not. */
export async function aedesUnavailable(dir: string): Promise<string | null> {
  const probe = `${dir}/aedes_probe.ts`;
  await Deno.writeTextFile(probe, `import { Aedes } from "${AEDES_PACKAGE}";\nif (!Aedes) Deno.exit(3);\n`);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-lock", probe],
    cwd: dir,
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output().catch((err: Error) => ({ success: false, stderr: new TextEncoder().encode(err.message) }));
  if (out.success) return null;
  return new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "import failed";
}

async function waitForPort(port: number, child: Deno.ChildProcess): Promise<void> {
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) throw new Error("it exited before listening");
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing listened on ${port} within ${START_TIMEOUT_MS} ms`);
}

/** Versions and settings for the record. */
export async function describeMachine(kinds: BrokerKind[]): Promise<string[]> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1]?.trim();
  const lines = [`machine: ${navigator.hardwareConcurrency} cores (nproc), ${cpu ?? "unknown CPU"}`];
  const versions = [`Deno ${Deno.version.deno}`];
  if (kinds.some((k) => k.startsWith("mosquitto"))) {
    const out = await new Deno.Command("mosquitto", { args: ["-h"], stdout: "piped", stderr: "null" })
      .output()
      .catch(() => null);
    const v = out && new TextDecoder().decode(out.stdout).match(/mosquitto version (\S+)/)?.[1];
    const settings = [
      kinds.includes("mosquitto") ? "`mosquitto`: default Nagle" : "",
      kinds.includes("mosquitto-nodelay") ? "`mosquitto-nodelay`: set_tcp_nodelay true" : "",
      kinds.includes("mosquitto-acl") ? "`mosquitto-acl`: default Nagle, acl_file BENCH_ACL" : "",
    ].filter(Boolean).join(", ");
    versions.push(`Mosquitto ${v ?? "?"} (shared mosquitto.conf, max_inflight_messages 64; ${settings})`);
  }
  if (kinds.includes("deno")) versions.push("this broker: main.ts, in-memory store, TCP_NODELAY on");
  if (kinds.includes("deno-acl")) versions.push("`deno-acl`: the same with acl_file BENCH_ACL");
  if (kinds.includes("aedes")) {
    versions.push(`Aedes ${AEDES_PACKAGE.split("@")[1]} on Deno's node:net (default Nagle)`);
  }
  lines.push(`versions: ${versions.join("; ")}`);
  return lines;
}
