/**
 * Side-by-side broker comparison with the native load generator
 * (../shared/tools/mqttload): for each scenario the brokers run ALTERNATELY
 * (A B A B A B), each started fresh per run on its own port on 127.0.0.1, and
 * the medians and the ratios of the first broker to the others are printed as a Markdown table.
 *
 *   deno run -A tests/bench/compare_brokers.ts [--runs 3] [--scenarios a,b,c,d,e,f] [--scale 0.2]
 *       [--brokers deno,mosquitto,mosquitto-nodelay,aedes] [--duration 30] [--out FILE] [--check FILE.json]
 *       [--record FILE.json] [--chart FILE.svg]
 *
 * `--check FILE` exits 1 when the ratio of scenario c (fan-out QoS 0) or e (1:1 QoS 1) is more
 * than 10% below the ratio recorded in FILE: the no-regression gate. `--record FILE` writes the
 * measured c and e ratios in that format. Every run is bounded; brokers are killed on any exit.
 */
import {
  aedesUnavailable,
  BROKER_KINDS,
  type BrokerKind,
  describeMachine,
  killAll,
  startBroker,
  toolDir,
} from "./loadgen/broker_launchers.ts";
import { readCommandLine, withoutSeparator } from "./loadgen/options.ts";
import { type ChartRow, ratioChart } from "./loadgen/ratio_chart.ts";

/**
 * A scenario: mqttload arguments and the message count per publisher at scale 1. `size` is the
 * payload (64 bytes unless given). A latency scenario (`halfRateOf`) publishes at half the rate the
 * reference broker (Mosquitto) reached in scenario `halfRateOf` in this same run, for `seconds`, so
 * that every broker is compared at the same load, one Mosquitto itself can sustain.
 */
export interface Scenario {
  label: string;
  args: string;
  count: number;
  size?: number;
  halfRateOf?: string;
  seconds?: number;
  /**
   * "loadgen": run the project's TypeScript load generator instead of mqttload (its ring mode
   * gives 10 000 connections one subscription each; mqttload would need two connections per
   * client and run out of file descriptors). Its flags and summary line have the same names.
   */
  tool?: "loadgen";
  /** A lower bound for the run's time cap, seconds (connecting 10 000 clients takes a while). */
  minDuration?: number;
}

/**
 * mqttload's six reference scenarios (a–f), then 16 KiB fan-out (g), latency at half rate (h, i)
 * and 10 000 connections at a low rate (j).
 */
export const SCENARIOS: Record<string, Scenario> = {
  a: {
    label: "1:1 QoS 0",
    args: "--pubs 1 --subs 1 --topic-mode shared --qos 0 --window 2000",
    count: 1_000_000,
  },
  b: {
    label: "fan-in 20:1 QoS 0",
    args: "--pubs 20 --subs 1 --topic-mode shared --qos 0 --window 100",
    count: 40_000,
  },
  c: {
    label: "fan-out 1:20 QoS 0",
    args: "--pubs 1 --subs 20 --topic-mode shared --qos 0 --window 200",
    count: 50_000,
  },
  d: { label: "mesh 20 QoS 0", args: "--pubs 20 --topic-mode mesh --qos 0 --window 20", count: 2_500 },
  e: {
    label: "1:1 QoS 1",
    args: "--pubs 1 --subs 1 --topic-mode shared --qos 1 --inflight 64",
    count: 400_000,
  },
  f: {
    label: "1:1 QoS 2",
    args: "--pubs 1 --subs 1 --topic-mode shared --qos 2 --inflight 64",
    count: 180_000,
  },
  g: {
    label: "fan-out 1:20 QoS 0, 16 KiB",
    args: "--pubs 1 --subs 20 --topic-mode shared --qos 0 --window 200",
    count: 5_000,
    size: 16 * 1024,
  },
  h: {
    label: "1:1 QoS 0 at ½ Mosquitto's max (a)",
    args: "--pubs 1 --subs 1 --topic-mode shared --qos 0 --window 2000",
    count: 0,
    halfRateOf: "a",
    seconds: 10,
  },
  i: {
    label: "1:1 QoS 1 at ½ Mosquitto's max (e)",
    args: "--pubs 1 --subs 1 --topic-mode shared --qos 1 --inflight 64",
    count: 0,
    halfRateOf: "e",
    seconds: 10,
  },
  j: {
    label: "10 000 clients × 1 msg/s QoS 1, one subscription each",
    args: "--mode ring --pubs 10000 --qos 1 --rate 1",
    count: 20,
    tool: "loadgen",
    minDuration: 90,
  },
};

/** The scenarios run when none are named: all of them. */
const DEFAULT_SCENARIOS = Object.keys(SCENARIOS);

/** The scenarios whose ratios the regression gate compares, and its tolerance. */
const GATED = ["c", "e"];
const TOLERANCE = 0.9;

export interface CompareArgs {
  runs: number;
  scenarios: string[];
  scale: number;
  brokers: BrokerKind[];
  duration: number;
  out?: string;
  check?: string;
  record?: string;
  /** An SVG file to draw the results in (ratios to the reference broker). */
  chart?: string;
}

export const USAGE = `usage: deno task bench:compare -- [--runs 3] [--scenarios a,b,…,j] [--scale 1]
  [--brokers deno,mosquitto,mosquitto-nodelay,aedes] [--duration 30] [--out FILE] [--check FILE.json]
  [--record FILE.json] [--chart FILE.svg]`;

export function parseArgs(argv: string[]): CompareArgs {
  argv = withoutSeparator(argv);
  const a: CompareArgs = { runs: 3, scenarios: [], scale: 1, brokers: ["deno", "mosquitto"], duration: 30 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--runs") a.runs = positive(flag, v);
    else if (flag === "--scale") a.scale = positive(flag, v);
    else if (flag === "--duration") a.duration = positive(flag, v);
    else if (flag === "--scenarios") a.scenarios = v.split(",");
    else if (flag === "--brokers") a.brokers = v.split(",") as BrokerKind[];
    else if (flag === "--out") a.out = v;
    else if (flag === "--check") a.check = v;
    else if (flag === "--record") a.record = v;
    else if (flag === "--chart") a.chart = v;
    else throw new Error(`unknown argument ${flag}`);
  }
  if (a.scenarios.length === 0) a.scenarios = a.check ? GATED : DEFAULT_SCENARIOS;
  for (const s of a.scenarios) if (!SCENARIOS[s]) throw new Error(`unknown scenario ${s} (a–i)`);
  // A latency scenario needs the maximum rate measured earlier in the same run.
  for (const [i, s] of [...a.scenarios].entries()) {
    const base = SCENARIOS[s].halfRateOf;
    if (base !== undefined && !a.scenarios.slice(0, i).includes(base)) {
      a.scenarios = [...a.scenarios.filter((x) => x !== base && x !== s), base, s];
    }
  }
  for (const b of a.brokers) if (!BROKER_KINDS.includes(b)) throw new Error(`unknown broker ${b}`);
  if (a.brokers.length < 2 && (a.check || a.record)) throw new Error("--check and --record need two brokers");
  return a;
}

function positive(flag: string, v: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new Error(`${flag} must be a positive number`);
  return n;
}

export interface Measurement {
  rate: number;
  p99: number;
  loss: number;
  error?: string;
}

/** Reads `key=value` pairs from mqttload's last stdout line. */
export function parseLastLine(stdout: string): Measurement {
  const last = stdout.trim().split("\n").pop() ?? "";
  const field = (name: string) => Number(last.match(new RegExp(`(?:^| )${name}=([0-9.]+)`))?.[1] ?? NaN);
  return { rate: field("rate"), p99: field("p99_us"), loss: field("loss") };
}

async function buildLoadgen(): Promise<string> {
  const out = await new Deno.Command("bash", { args: [`${toolDir}build.sh`], stdout: "piped" }).output();
  if (!out.success) throw new Error("building mqttload failed (is gcc installed?)");
  return new TextDecoder().decode(out.stdout).trim().split("\n").pop()!;
}

/** mqttload's arguments for one run; `rate` is the fixed publish rate of a latency scenario. */
export function loadArgs(
  port: number,
  scenario: string,
  a: Pick<CompareArgs, "scale" | "duration">,
  rate = 0,
) {
  const s = SCENARIOS[scenario];
  const least = s.tool === "loadgen" ? 1 : 100;
  const count = rate > 0
    ? Math.max(least, Math.round(rate * s.seconds! * a.scale))
    : Math.max(least, Math.round(s.count * a.scale));
  const duration = Math.max(a.duration, s.minDuration ?? 0);
  return [
    ...["--host", "127.0.0.1", "--port", `${port}`, ...s.args.split(" "), "--count", `${count}`],
    ...["--size", `${s.size ?? 64}`, "--duration", `${duration}`, "--proto", "4"],
    ...(rate > 0 ? ["--rate", `${Math.round(rate)}`] : []),
  ];
}

/** One mqttload run against `port`, killed if it outlives its own cap by 20 s. */
async function measure(
  loadgen: string,
  port: number,
  scenario: string,
  a: CompareArgs,
  rate: number,
): Promise<Measurement> {
  const s = SCENARIOS[scenario];
  const args = loadArgs(port, scenario, a, rate);
  const [cmd, argv] = s.tool === "loadgen"
    ? [Deno.execPath(), ["run", "-A", new URL("./loadgen.ts", import.meta.url).pathname, ...args]]
    : [loadgen, args];
  const out = await new Deno.Command(cmd, {
    args: argv,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout((Math.max(a.duration, s.minDuration ?? 0) + 20) * 1000),
  }).output();
  const m = parseLastLine(new TextDecoder().decode(out.stdout));
  if (!out.success || !Number.isFinite(m.rate)) {
    const why = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-2).join(" ");
    m.error = `${s.tool ?? "mqttload"} exited ${out.signal ?? out.code}: ${why}`;
  }
  return m;
}

/** Starts a fresh broker, measures once, stops it; any failure becomes a failed measurement. */
async function measureFresh(
  kind: BrokerKind,
  loadgen: string,
  scenario: string,
  a: CompareArgs,
  dir: string,
  rate: number,
): Promise<Measurement> {
  let broker;
  try {
    broker = await startBroker(kind, dir);
    return await measure(loadgen, broker.port, scenario, a, rate);
  } catch (err) {
    return { rate: NaN, p99: NaN, loss: NaN, error: (err as Error).message.split("\n")[0] };
  } finally {
    await broker?.stop();
  }
}

const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((x, y) => x - y);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Names the broker columns; a broker listed twice (e.g. Mosquitto against itself) gets #2. */
function columnNames(brokers: BrokerKind[]): string[] {
  return brokers.map((b, i) => brokers.indexOf(b) === i ? b : `${b}#${i + 1}`);
}

type Results = Record<string, Measurement[][]>; // scenario → broker column → runs

async function runAll(a: CompareArgs, loadgen: string, dir: string): Promise<Results> {
  const names = columnNames(a.brokers);
  const results: Results = {};
  for (const scenario of a.scenarios) {
    results[scenario] = a.brokers.map(() => []);
    const rate = halfRate(a, results, scenario);
    if (rate > 0) console.error(`${scenario}: every broker publishes at ${Math.round(rate)} msg/s`);
    for (let run = 0; run < a.runs; run++) {
      for (const [col, kind] of a.brokers.entries()) {
        const m = await measureFresh(kind, loadgen, scenario, a, dir, rate);
        results[scenario][col].push(m);
        console.error(
          `${scenario} run ${run + 1}/${a.runs} ${names[col]}: ${Math.round(m.rate)} msg/s p99 ${m.p99} µs ` +
            `loss ${m.loss}${m.error ? ` FAILED ${m.error}` : ""}`,
        );
      }
    }
  }
  return results;
}

/** The reference column: the first Mosquitto, else the second broker. */
function referenceColumn(brokers: BrokerKind[]): number {
  const i = brokers.indexOf("mosquitto");
  return i >= 0 ? i : 1;
}

/** For a latency scenario, half the reference broker's median rate in its base scenario; else 0. */
function halfRate(a: CompareArgs, results: Results, scenario: string): number {
  const base = SCENARIOS[scenario].halfRateOf;
  if (base === undefined) return 0;
  const runs = results[base]?.[referenceColumn(a.brokers)] ?? [];
  const max = median(runs.map((m) => m.error ? NaN : m.rate));
  if (!Number.isFinite(max)) throw new Error(`scenario ${scenario} needs a measured rate for ${base}`);
  return max / 2;
}

/** Medians per broker and the ratio of the first broker to each other one; `ratios` holds first/second. */
function table(
  a: CompareArgs,
  results: Results,
): { text: string; ratios: Record<string, number>; chart: ChartRow[] } {
  const names = columnNames(a.brokers);
  const head = [
    "scenario",
    ...names.map((n) => `${n} msg/s`),
    ...names.slice(1).map((n) => `${names[0]}/${n}`),
    `p99 µs (${names.join(" / ")})`,
    `p99 ${names[0]}/${names[1]}`,
    "loss",
  ];
  const lines = [`| ${head.join(" | ")} |`, `| --- | ${head.slice(1).map(() => "---:").join(" | ")} |`];
  const ratios: Record<string, number> = {};
  const chart: ChartRow[] = [];
  const ref = referenceColumn(a.brokers);
  const show = (x: number, digits = 0) => Number.isFinite(x) ? x.toFixed(digits) : "—";
  for (const [scenario, cols] of Object.entries(results)) {
    const rates = cols.map((runs) => median(runs.map((m) => m.error ? NaN : m.rate)));
    const p99s = cols.map((runs) => median(runs.map((m) => m.p99)));
    const losses = cols.map((runs) =>
      runs.reduce((sum, m) => sum + (Number.isFinite(m.loss) ? m.loss : 0), 0)
    );
    const failed = cols.map((runs) => runs.filter((m) => m.error).length);
    ratios[scenario] = rates[0] / rates[1];
    // In the chart, higher is better: more throughput, or (latency scenarios) a lower p99.
    // A paced scenario (fixed publish rate) is compared by latency: every broker delivers the same rate.
    const latency = SCENARIOS[scenario].halfRateOf !== undefined ||
      SCENARIOS[scenario].args.includes("--rate");
    chart.push({
      label: `${scenario}: ${SCENARIOS[scenario].label}${latency ? " — p99" : ""}`,
      values: cols.map((_, i) => latency ? p99s[ref] / p99s[i] : rates[i] / rates[ref]),
    });
    const size = SCENARIOS[scenario].size ?? 64;
    // Large payloads are compared in MB/s as well (payload bytes delivered per second).
    const mbs = (r: number) =>
      size > 64 && Number.isFinite(r) ? ` (${(r * size / 1e6).toFixed(0)} MB/s)` : "";
    const cells = [
      `${scenario}: ${SCENARIOS[scenario].label}`,
      ...rates.map((r, i) => `${show(r)}${mbs(r)}${failed[i] ? ` (${failed[i]} failed)` : ""}`),
      ...rates.slice(1).map((r) => `${show(rates[0] / r, 2)}×`),
      p99s.map((p) => show(p)).join(" / "),
      `${show(p99s[0] / p99s[1], 2)}×`,
      losses.join(" / "),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return { text: lines.join("\n"), ratios, chart };
}

/** The regression gate: 1 when a gated ratio fell more than 10% below its recorded value. */
export async function check(
  file: string,
  a: Pick<CompareArgs, "scale">,
  ratios: Record<string, number>,
): Promise<number> {
  const recorded = JSON.parse(await Deno.readTextFile(file)) as Record<string, unknown>;
  if (recorded.scale !== undefined && recorded.scale !== a.scale) {
    console.error(`warning: ${file} was recorded at --scale ${recorded.scale}, this run used ${a.scale}`);
  }
  let status = 0;
  for (const s of GATED) {
    const want = recorded[s];
    if (typeof want !== "number") continue;
    const got = ratios[s];
    const ok = Number.isFinite(got) && got >= want * TOLERANCE;
    console.error(`${ok ? "ok" : "REGRESSION"}: scenario ${s} ratio ${got?.toFixed(2)} (recorded ${want})`);
    if (!ok) status = 1;
  }
  return status;
}

async function main(): Promise<number> {
  const line = readCommandLine(Deno.args, USAGE, parseArgs);
  if ("exit" in line) return line.exit;
  const a: CompareArgs = line.args;
  const dir = await Deno.makeTempDir({ prefix: "compare-brokers-" });
  try {
    if (a.brokers.includes("aedes")) {
      const why = await aedesUnavailable(dir);
      if (why !== null) {
        console.error(`skipping Aedes: ${AEDES_NOTE} (${why})`);
        a.brokers = a.brokers.filter((b) => b !== "aedes");
      }
    }
    const loadgen = await buildLoadgen();
    const results = await runAll(a, loadgen, dir);
    const { text, ratios, chart } = table(a, results);
    const meta = [
      `${
        new Date().toISOString().slice(0, 16).replace("T", " ")
      } UTC; ${a.runs} alternating runs per scenario, ` +
      `medians; --scale ${a.scale}; mqttload, 64-byte payloads, MQTT 3.1.1`,
      ...await describeMachine(a.brokers),
    ];
    console.log(`${meta.join("\n")}\n\n${text}`);
    if (a.out) {
      await Deno.writeTextFile(a.out, `\n${meta.map((l) => `${l}  `).join("\n")}\n\n${text}\n`, {
        append: true,
      });
    }
    if (a.record) await record(a, ratios);
    if (a.chart) {
      const title = `Relative to ${
        columnNames(a.brokers)[referenceColumn(a.brokers)]
      } (1× line), higher is better`;
      await Deno.writeTextFile(
        a.chart,
        ratioChart({ title, subtitle: meta[0], brokers: columnNames(a.brokers), rows: chart }),
      );
    }
    const failures = Object.values(results).flat(2).filter((m) => m.error).length;
    const gate = a.check ? await check(a.check, a, ratios) : 0;
    return failures > 0 ? 1 : gate;
  } finally {
    killAll();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const AEDES_NOTE = "npm:aedes could not be imported";

async function record(a: CompareArgs, ratios: Record<string, number>): Promise<void> {
  const entry: Record<string, unknown> = { scale: a.scale, runs: a.runs, measured: new Date().toISOString() };
  for (const s of GATED) if (Number.isFinite(ratios[s])) entry[s] = Number(ratios[s].toFixed(2));
  await Deno.writeTextFile(a.record!, `${JSON.stringify(entry, null, 2)}\n`);
}

if (import.meta.main) {
  // Brokers must not outlive this process, whatever ends it.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      killAll();
      Deno.exit(130);
    });
  }
  let code = 1;
  try {
    code = await main();
  } catch (err) {
    console.error(`compare_brokers failed: ${(err as Error).message}`);
  } finally {
    killAll();
  }
  Deno.exit(code);
}
