/**
 * Side-by-side throughput comparison: the native load generator in
 * ../shared/tools/mqttload drives this broker and Mosquitto alternately
 * (A B A B A B), each started fresh per run, and prints medians and ratios.
 *
 *   deno run -A tests/bench/compare_brokers.ts [--runs 3] [--scenarios a,b,c,d,e,f] [--scale 1]
 *                                              [--out docs/benchmarks.md] [--check docs/bench_baseline.json]
 *
 * `--check FILE` exits 1 when the ratio of scenario c (fan-out QoS 0) or e (1:1 QoS 1)
 * falls more than 10% below the ratio recorded in FILE: the no-regression gate.
 * Everything runs on 127.0.0.1 with bounded counts and time.
 */
import { freePort } from "../_helpers/broker_process.ts";

const root = new URL("../../", import.meta.url).pathname;
const toolDir = new URL("../../../shared/tools/mqttload/", import.meta.url).pathname;

/** The reference scenarios of the load generator's README (64-byte payloads, MQTT 3.1.1). */
const SCENARIOS: Record<string, { label: string; args: string[]; count: number }> = {
  a: {
    label: "1:1 QoS 0",
    args: ["--pubs", "1", "--subs", "1", "--topic-mode", "shared", "--qos", "0", "--window", "2000"],
    count: 1_000_000,
  },
  b: {
    label: "fan-in 20:1 QoS 0",
    args: ["--pubs", "20", "--subs", "1", "--topic-mode", "shared", "--qos", "0", "--window", "100"],
    count: 40_000,
  },
  c: {
    label: "fan-out 1:20 QoS 0",
    args: ["--pubs", "1", "--subs", "20", "--topic-mode", "shared", "--qos", "0", "--window", "200"],
    count: 50_000,
  },
  d: {
    label: "mesh 20 QoS 0",
    args: ["--pubs", "20", "--topic-mode", "mesh", "--qos", "0", "--window", "20"],
    count: 2_500,
  },
  e: {
    label: "1:1 QoS 1",
    args: ["--pubs", "1", "--subs", "1", "--topic-mode", "shared", "--qos", "1", "--inflight", "64"],
    count: 400_000,
  },
  f: {
    label: "1:1 QoS 2",
    args: ["--pubs", "1", "--subs", "1", "--topic-mode", "shared", "--qos", "2", "--inflight", "64"],
    count: 180_000,
  },
};

interface Args {
  runs: number;
  scenarios: string[];
  scale: number;
  out?: string;
  check?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { runs: 3, scenarios: Object.keys(SCENARIOS), scale: 1 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === "--runs") args.runs = Number(v), i++;
    else if (argv[i] === "--scenarios") args.scenarios = v.split(","), i++;
    else if (argv[i] === "--scale") args.scale = Number(v), i++;
    else if (argv[i] === "--out") args.out = v, i++;
    else if (argv[i] === "--check") args.check = v, i++;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return args;
}

async function buildLoadgen(): Promise<string> {
  const out = await new Deno.Command("bash", { args: [`${toolDir}build.sh`], stdout: "piped" }).output();
  if (!out.success) throw new Error("building mqttload failed");
  return new TextDecoder().decode(out.stdout).trim().split("\n").pop()!;
}

interface Running {
  stop(): Promise<void>;
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing listens on ${port}`);
}

async function startOurs(port: number, dir: string): Promise<Running> {
  const config = `${dir}/ours.yaml`;
  await Deno.writeTextFile(
    config,
    `listeners:\n  - { type: tcp, host: 127.0.0.1, port: ${port} }\npersistence:\n  type: memory\nlimits:\n  max_queued_messages: 100000\n  max_connections: 0\nlog:\n  level: warning\n`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--unstable-kv", "-A", `${root}main.ts`, "--config", config],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitPort(port);
  return { stop: async () => (child.kill("SIGKILL"), void await child.status) };
}

async function startMosquitto(port: number, dir: string): Promise<Running> {
  const base = await Deno.readTextFile(`${toolDir}mosquitto.conf`);
  const config = `${dir}/mosquitto.conf`;
  await Deno.writeTextFile(config, base.replace(/^listener \d+/m, `listener ${port}`));
  const child = new Deno.Command("mosquitto", { args: ["-c", config], stdout: "null", stderr: "null" })
    .spawn();
  await waitPort(port);
  return { stop: async () => (child.kill("SIGKILL"), void await child.status) };
}

/** One load run; returns delivered msg/s and p99 latency in µs. */
async function measure(loadgen: string, port: number, scenario: string, scale: number) {
  const s = SCENARIOS[scenario];
  const count = Math.max(100, Math.round(s.count * scale));
  const out = await new Deno.Command(loadgen, {
    args: [
      "--host",
      "127.0.0.1",
      "--port",
      `${port}`,
      ...s.args,
      "--count",
      `${count}`,
      "--size",
      "64",
      "--duration",
      "30",
      "--proto",
      "4",
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  const last = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
  const field = (name: string) => Number(last.match(new RegExp(`\\b${name}=([0-9.]+)`))?.[1] ?? NaN);
  return { rate: field("rate"), p99: field("p99_us"), loss: field("loss") };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function machine(): Promise<string> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  const mosq = await new Deno.Command("mosquitto", { args: ["-h"], stdout: "piped" }).output();
  const version = new TextDecoder().decode(mosq.stdout).match(/mosquitto version (\S+)/)?.[1] ?? "?";
  return `${navigator.hardwareConcurrency} cores, ${cpu}; Deno ${Deno.version.deno}; Mosquitto ${version}`;
}

async function main(): Promise<number> {
  const args = parseArgs(Deno.args);
  const loadgen = await buildLoadgen();
  const dir = await Deno.makeTempDir({ prefix: "compare-" });
  const results: Record<string, { ours: number[]; mosq: number[]; oursP99: number[]; mosqP99: number[] }> =
    {};
  try {
    for (const scenario of args.scenarios) {
      const r: { ours: number[]; mosq: number[]; oursP99: number[]; mosqP99: number[] } = {
        ours: [],
        mosq: [],
        oursP99: [],
        mosqP99: [],
      };
      results[scenario] = r;
      for (let run = 0; run < args.runs; run++) {
        for (const which of ["ours", "mosq"] as const) {
          const port = freePort();
          const broker = which === "ours" ? await startOurs(port, dir) : await startMosquitto(port, dir);
          try {
            const m = await measure(loadgen, port, scenario, args.scale);
            r[which].push(m.rate);
            r[which === "ours" ? "oursP99" : "mosqP99"].push(m.p99);
            console.error(
              `${scenario} run ${run + 1} ${which}: ${
                Math.round(m.rate)
              } msg/s p99 ${m.p99} µs loss ${m.loss}`,
            );
          } finally {
            await broker.stop();
          }
        }
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const date = new Date().toISOString().slice(0, 10);
  const lines = [
    `Measured ${date} on ${await machine()}; ${args.runs} alternating runs per scenario, medians, scale ${args.scale}.`,
    `This broker: TCP_NODELAY on, in-memory store. Mosquitto: ../shared/tools/mqttload/mosquitto.conf (default Nagle).`,
    "",
    "| scenario | this broker msg/s | Mosquitto msg/s | ratio | p99 µs (this / Mosquitto) |",
    "| --- | ---: | ---: | ---: | ---: |",
  ];
  const ratios: Record<string, number> = {};
  for (const [scenario, r] of Object.entries(results)) {
    const ours = median(r.ours);
    const mosq = median(r.mosq);
    ratios[scenario] = ours / mosq;
    lines.push(
      `| ${scenario}: ${SCENARIOS[scenario].label} | ${Math.round(ours)} | ${Math.round(mosq)} | ${
        (ours / mosq).toFixed(2)
      }× | ${Math.round(median(r.oursP99))} / ${Math.round(median(r.mosqP99))} |`,
    );
  }
  const table = lines.join("\n");
  console.log(table);
  if (args.out) await Deno.writeTextFile(args.out, `\n${table}\n`, { append: true });
  if (args.check) {
    const baseline = JSON.parse(await Deno.readTextFile(args.check)) as Record<string, number>;
    for (const scenario of ["c", "e"]) {
      if (baseline[scenario] === undefined || ratios[scenario] === undefined) continue;
      if (ratios[scenario] < baseline[scenario] * 0.9) {
        console.error(
          `regression: scenario ${scenario} ratio ${ratios[scenario].toFixed(2)} < 0.9 × ${
            baseline[scenario]
          }`,
        );
        return 1;
      }
    }
    console.error("no regression against the recorded ratios");
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
