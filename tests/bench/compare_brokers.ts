/**
 * Side-by-side broker comparison with the native load generator
 * (../shared/tools/mqttload): for each scenario the brokers run ALTERNATELY
 * (A B A B A B), each started fresh per run on its own port on 127.0.0.1, and
 * the medians and the ratios of the first broker to the others are printed as a Markdown table.
 *
 *   deno run -A tests/bench/compare_brokers.ts [--runs 3] [--scenarios a,b,c,d,e,f] [--scale 0.2]
 *       [--brokers deno,mosquitto,mosquitto-nodelay,aedes] [--duration 30] [--out FILE] [--check FILE.json] [--record FILE.json]
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

/** mqttload's six reference scenarios (64-byte payloads, MQTT 3.1.1), counts at scale 1. */
export const SCENARIOS: Record<string, { label: string; args: string; count: number }> = {
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
};

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
}

export function parseArgs(argv: string[]): CompareArgs {
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
    else throw new Error(`unknown argument ${flag}`);
  }
  if (a.scenarios.length === 0) a.scenarios = a.check ? GATED : Object.keys(SCENARIOS);
  for (const s of a.scenarios) if (!SCENARIOS[s]) throw new Error(`unknown scenario ${s} (a–f)`);
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

/** One mqttload run against `port`, killed if it outlives its own cap by 20 s. */
async function measure(
  loadgen: string,
  port: number,
  scenario: string,
  a: CompareArgs,
): Promise<Measurement> {
  const s = SCENARIOS[scenario];
  const count = Math.max(100, Math.round(s.count * a.scale));
  const args = [
    ...["--host", "127.0.0.1", "--port", `${port}`, ...s.args.split(" "), "--count", `${count}`],
    ...["--size", "64", "--duration", `${a.duration}`, "--proto", "4"],
  ];
  const out = await new Deno.Command(loadgen, {
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout((a.duration + 20) * 1000),
  }).output();
  const m = parseLastLine(new TextDecoder().decode(out.stdout));
  if (!out.success || !Number.isFinite(m.rate)) {
    const why = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-2).join(" ");
    m.error = `mqttload exited ${out.signal ?? out.code}: ${why}`;
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
): Promise<Measurement> {
  let broker;
  try {
    broker = await startBroker(kind, dir);
    return await measure(loadgen, broker.port, scenario, a);
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
    for (let run = 0; run < a.runs; run++) {
      for (const [col, kind] of a.brokers.entries()) {
        const m = await measureFresh(kind, loadgen, scenario, a, dir);
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

/** Medians per broker and the ratio of the first broker to each other one; `ratios` holds first/second. */
function table(a: CompareArgs, results: Results): { text: string; ratios: Record<string, number> } {
  const names = columnNames(a.brokers);
  const head = [
    "scenario",
    ...names.map((n) => `${n} msg/s`),
    ...names.slice(1).map((n) => `${names[0]}/${n}`),
    `p99 µs (${names.join(" / ")})`,
    "loss",
  ];
  const lines = [`| ${head.join(" | ")} |`, `| --- | ${head.slice(1).map(() => "---:").join(" | ")} |`];
  const ratios: Record<string, number> = {};
  const show = (x: number, digits = 0) => Number.isFinite(x) ? x.toFixed(digits) : "—";
  for (const [scenario, cols] of Object.entries(results)) {
    const rates = cols.map((runs) => median(runs.map((m) => m.error ? NaN : m.rate)));
    const p99s = cols.map((runs) => median(runs.map((m) => m.p99)));
    const losses = cols.map((runs) =>
      runs.reduce((sum, m) => sum + (Number.isFinite(m.loss) ? m.loss : 0), 0)
    );
    const failed = cols.map((runs) => runs.filter((m) => m.error).length);
    ratios[scenario] = rates[0] / rates[1];
    const cells = [
      `${scenario}: ${SCENARIOS[scenario].label}`,
      ...rates.map((r, i) => `${show(r)}${failed[i] ? ` (${failed[i]} failed)` : ""}`),
      ...rates.slice(1).map((r) => `${show(rates[0] / r, 2)}×`),
      p99s.map((p) => show(p)).join(" / "),
      losses.join(" / "),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return { text: lines.join("\n"), ratios };
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
  let a: CompareArgs;
  try {
    a = parseArgs(Deno.args);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
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
    const { text, ratios } = table(a, results);
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
