/** Command-line options of the load generator and its four scenario presets. */
import type { ProtoLevel, Qos } from "./wire.ts";

export interface LoadOptions {
  host: string;
  port: number;
  /**
   * shared: everyone uses one topic; mesh: each client publishes to its own topic and subscribes to all;
   * ring: client i subscribes to its own topic and publishes to client i+1's, so every connection has one
   * subscription and every message one receiver (many connections at a low rate).
   */
  mode: "shared" | "mesh" | "ring";
  pubs: number;
  subs: number;
  qos: Qos;
  /** Payload bytes; at least 16 (timestamp, publisher index, sequence number). */
  size: number;
  /** Messages per publisher. */
  count: number;
  /** Unacknowledged QoS 1/2 messages per publisher. */
  inflight: number;
  /** How many messages a publisher may run ahead of its subscribers. */
  window: number;
  /** Hard cap on the whole run, seconds. */
  duration: number;
  proto: ProtoLevel;
  /** Messages per second per publisher; 0 = as fast as possible. */
  rate: number;
  /** Persistent sessions (clean = false; v5 session expiry 300 s). */
  persistent: boolean;
  json: boolean;
}

export const DEFAULTS: LoadOptions = {
  host: "127.0.0.1",
  port: 1883,
  mode: "shared",
  pubs: 1,
  subs: 1,
  qos: 0,
  size: 64,
  count: 10_000,
  inflight: 64,
  window: 1000,
  duration: 30,
  proto: 4,
  rate: 0,
  persistent: false,
  json: false,
};

/** The counts of the native mqttload's reference scenarios a–d. */
export const SCENARIOS = {
  one1: { pubs: 1, subs: 1, mode: "shared", count: 1_000_000, window: 2000 },
  fanin: { pubs: 20, subs: 1, mode: "shared", count: 40_000, window: 100 },
  fanout: { pubs: 1, subs: 20, mode: "shared", count: 50_000, window: 200 },
  mesh: { pubs: 20, subs: 20, mode: "mesh", count: 2_500, window: 20 },
} as const satisfies Record<string, Partial<LoadOptions>>;

export class UsageError extends Error {}

/**
 * The arguments without the `--` that `deno task loadgen -- --scenario …` passes on as a literal
 * first argument (the form the README shows, and the one npm users type).
 */
export function withoutSeparator(argv: string[]): string[] {
  return argv[0] === "--" ? argv.slice(1) : argv;
}

/** Whether `--help` or `-h` was asked for, and the other arguments (which are still checked). */
export function helpRequested(argv: string[]): { help: boolean; rest: string[] } {
  const rest = argv.filter((a) => a !== "--help" && a !== "-h");
  return { help: rest.length < argv.length, rest };
}

/**
 * A bench tool's command line: `parse` checks the arguments besides --help/-h (even with
 * --help, so that `… --help` also tells whether the rest of the line is right). Gives the
 * parsed arguments, or the exit code once the usage is printed: 0 for --help, 2 after a
 * mistake (`mistake` tells the user's errors from the others, which are thrown).
 */
export function readCommandLine<T>(
  argv: string[],
  usage: string,
  parse: (args: string[]) => T,
  mistake: (err: unknown) => boolean = () => true,
): { args: T } | { exit: number } {
  const { help, rest } = helpRequested(argv);
  let args: T;
  try {
    args = parse(rest);
  } catch (err) {
    if (!mistake(err)) throw err;
    console.error(`${(err as Error).message}\n${usage}`);
    return { exit: 2 };
  }
  if (!help) return { args };
  console.log(usage);
  return { exit: 0 };
}

const NUMERIC = [
  "port",
  "pubs",
  "subs",
  "size",
  "count",
  "inflight",
  "window",
  "duration",
  "rate",
] as const;

/** Parses `--name value` flags over the scenario preset (if any) and the defaults. */
export function parseOptions(argv: string[]): LoadOptions {
  argv = withoutSeparator(argv);
  const o: LoadOptions = { ...DEFAULTS };
  const at = argv.indexOf("--scenario");
  if (at >= 0) {
    const name = argv[at + 1] as keyof typeof SCENARIOS;
    if (!Object.hasOwn(SCENARIOS, name)) {
      throw new UsageError(`unknown scenario "${name}": one1, fanin, fanout or mesh`);
    }
    Object.assign(o, SCENARIOS[name]);
  }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === "--persistent" || flag === "--json") {
      o[flag === "--json" ? "json" : "persistent"] = true;
      continue;
    }
    const value = argv[++i];
    if (!flag.startsWith("--") || value === undefined) {
      throw new UsageError(`expected --name value at ${flag}`);
    }
    const name = flag.slice(2);
    if (name === "scenario") continue;
    else if (name === "host") o.host = value;
    else if (name === "mode") {
      o.mode = value === "mesh" || value === "shared" || value === "ring" ? value : bad(name, value);
    } else if (name === "qos") o.qos = oneOf(name, value, [0, 1, 2]) as Qos;
    else if (name === "proto") o.proto = oneOf(name, value, [4, 5]) as ProtoLevel;
    else if ((NUMERIC as readonly string[]).includes(name)) {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) bad(name, value);
      o[name as typeof NUMERIC[number]] = n;
    } else throw new UsageError(`unknown option ${flag}`);
  }
  if (o.mode !== "shared") o.subs = o.pubs; // every mesh or ring client both publishes and subscribes
  validate(o);
  return o;
}

function validate(o: LoadOptions): void {
  if (o.pubs < 1 || o.subs < 1) throw new UsageError("--pubs and --subs must be at least 1");
  const most = o.mode === "ring" ? 100_000 : 1000;
  if (o.pubs > most || o.subs > most) {
    throw new UsageError(`at most ${most} publishers and ${most} subscribers in ${o.mode} mode`);
  }
  if (o.size < 16) throw new UsageError("--size must be at least 16 (timestamp, index, sequence)");
  if (o.size > 256 * 1024 * 1024) throw new UsageError("--size must be at most 256 MiB");
  if (o.count < 1 || o.pubs * receiversPerMessage(o) * o.count > 4e8) {
    throw new UsageError("--count out of range");
  }
  if (o.inflight < 1 || o.inflight > 65535) throw new UsageError("--inflight must be 1..65535");
  if (o.window < 1) throw new UsageError("--window must be at least 1");
  if (o.duration <= 0) throw new UsageError("--duration must be positive");
}

/** How many subscribers receive each message. */
export function receiversPerMessage(o: Pick<LoadOptions, "mode" | "subs">): number {
  return o.mode === "ring" ? 1 : o.subs;
}

function oneOf(name: string, value: string, allowed: number[]): number {
  const n = Number(value);
  if (!allowed.includes(n)) throw new UsageError(`--${name} must be one of ${allowed.join(", ")}`);
  return n;
}

function bad(name: string, value: string): never {
  throw new UsageError(`bad value for --${name}: ${value}`);
}

export const USAGE =
  `usage: deno task loadgen -- [--scenario one1|fanin|fanout|mesh] [--host 127.0.0.1] [--port 1883]
  [--pubs N] [--subs N] [--mode shared|mesh|ring] [--qos 0|1|2] [--size BYTES] [--count MSGS_PER_PUBLISHER]
  [--inflight N] [--window N] [--duration SECS] [--proto 4|5] [--rate MSGS_PER_S] [--persistent] [--json]`;
