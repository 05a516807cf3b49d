/**
 * How much memory an idle MQTT connection costs a broker: each broker is
 * started fresh (this one, Mosquitto, …), its RSS is read from /proc, N clients
 * connect (clean session, keep-alive 60 s) and stay idle, and the RSS is read
 * again. Every connection must still answer a PINGREQ at the end ("held"). With `--subscribe 1`
 * each client also holds one subscription at that QoS to a topic of its own (`idle/<id>/cmd`),
 * as a fleet of devices waiting for commands does.
 *
 *   deno run -A tests/bench/idle_connections.ts [--conns N] [--brokers deno,mosquitto] [--hold 5] [--runs 1]
 *     [--subscribe 0|1|2]
 *
 * N defaults to 100 000, lowered to what this process's open-file limit allows (each side needs one
 * descriptor per connection); the output says when it was lowered. 127.0.0.1 only, bounded in time.
 */
import {
  BROKER_KINDS,
  type BrokerKind,
  describeMachine,
  killAll,
  type RunningBroker,
  startBroker,
} from "./loadgen/broker_launchers.ts";
import { readCommandLine, withoutSeparator } from "./loadgen/options.ts";
import { encodeConnect, encodeSubscribe } from "./loadgen/wire.ts";

const TARGET = 100_000;
const CONNECT_PARALLELISM = 200;
const PING_TIMEOUT_MS = 20_000;

export interface IdleArgs {
  conns: number;
  brokers: BrokerKind[];
  hold: number;
  runs: number;
  /** The QoS of the one subscription each client holds, or null for none. */
  subscribe: 0 | 1 | 2 | null;
}

export const USAGE =
  "usage: deno task bench:idle -- [--conns N] [--brokers deno,mosquitto] [--hold 5] [--runs 1] [--subscribe 0|1|2]";

export function parseIdleArgs(argv: string[], fileLimit: number): { args: IdleArgs; lowered: boolean } {
  argv = withoutSeparator(argv);
  const a: IdleArgs = { conns: TARGET, brokers: ["deno", "mosquitto"], hold: 5, runs: 1, subscribe: null };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--conns") a.conns = Number(v);
    else if (flag === "--hold") a.hold = Number(v);
    else if (flag === "--runs") a.runs = Number(v);
    else if (flag === "--brokers") a.brokers = v.split(",") as BrokerKind[];
    else if (flag === "--subscribe") {
      if (v !== "0" && v !== "1" && v !== "2") throw new Error("--subscribe takes a QoS: 0, 1 or 2");
      a.subscribe = Number(v) as 0 | 1 | 2;
    } else throw new Error(`unknown argument ${flag}`);
  }
  for (const b of a.brokers) if (!BROKER_KINDS.includes(b)) throw new Error(`unknown broker ${b}`);
  if (!(a.conns >= 1 && a.hold >= 0 && a.runs >= 1)) throw new Error("--conns, --runs ≥ 1 and --hold ≥ 0");
  // Leave room for the runtime's own descriptors on both sides.
  const room = fileLimit - 500;
  const lowered = a.conns > room;
  if (lowered) a.conns = room;
  return { args: a, lowered };
}

/** The soft open-file limit of this process (brokers started from it inherit it). */
export async function openFileLimit(): Promise<number> {
  const limits = await Deno.readTextFile("/proc/self/limits");
  const soft = limits.match(/^Max open files\s+(\d+|unlimited)/m)?.[1];
  return soft === undefined || soft === "unlimited" ? Infinity : Number(soft);
}

/** Resident set size of a process in bytes. */
export async function rssBytes(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/^VmRSS:\s+(\d+) kB/m)?.[1] ?? NaN) * 1024;
}

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  for (let got = 0; got < n;) {
    const r = await conn.read(out.subarray(got));
    if (r === null) throw new Error("closed by the broker");
    got += r;
  }
  return out;
}

async function openIdle(port: number, id: string, subscribe: 0 | 1 | 2 | null): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encodeConnect(4, { clientId: id, clean: true, keepAlive: 60 }));
    const connack = await readExactly(conn, 4);
    if (connack[0] !== 0x20 || connack[3] !== 0) throw new Error(`refused: ${[...connack]}`);
    if (subscribe !== null) {
      await conn.write(encodeSubscribe(4, 1, `idle/${id}/cmd`, subscribe));
      const suback = await readExactly(conn, 5);
      if (suback[0] !== 0x90 || suback[4] !== subscribe) {
        throw new Error(`subscription refused: ${[...suback]}`);
      }
    }
    return conn;
  } catch (err) {
    conn.close();
    throw err;
  }
}

/** Sends PINGREQ on every connection and counts the PINGRESPs that come back in time. */
async function countHeld(conns: Deno.Conn[]): Promise<number> {
  const deadline = AbortSignal.timeout(PING_TIMEOUT_MS);
  const answered = await Promise.all(conns.map(async (c) => {
    try {
      await c.write(Uint8Array.of(0xc0, 0));
      const r = await Promise.race([
        readExactly(c, 2),
        new Promise<never>((_, reject) =>
          deadline.addEventListener("abort", () => reject(new Error("timeout")))
        ),
      ]);
      return r[0] === 0xd0 ? 1 : 0;
    } catch {
      return 0;
    }
  }));
  return answered.reduce((a: number, b) => a + b, 0);
}

export interface IdleResult {
  broker: BrokerKind;
  conns: number;
  rssBefore: number;
  rssAfter: number;
  held: number;
  connectSecs: number;
}

async function measureOne(kind: BrokerKind, a: IdleArgs, dir: string): Promise<IdleResult> {
  const conns: Deno.Conn[] = [];
  let broker: RunningBroker | undefined;
  try {
    broker = await startBroker(kind, dir);
    await new Promise((r) => setTimeout(r, 1000)); // let start-up garbage settle
    const rssBefore = await rssBytes(broker.pid);
    const started = performance.now();
    for (let i = 0; i < a.conns; i += CONNECT_PARALLELISM) {
      const batch = [];
      for (let j = i; j < Math.min(a.conns, i + CONNECT_PARALLELISM); j++) {
        batch.push(openIdle(broker.port, `idle-${j}`, a.subscribe));
      }
      for (const r of await Promise.allSettled(batch)) {
        if (r.status === "fulfilled") conns.push(r.value);
        else throw new Error(`connection ${conns.length} failed: ${(r.reason as Error).message}`);
      }
    }
    const connectSecs = (performance.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, a.hold * 1000));
    const rssAfter = await rssBytes(broker.pid);
    const held = await countHeld(conns);
    return { broker: kind, conns: a.conns, rssBefore, rssAfter, held, connectSecs };
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    await broker?.stop();
  }
}

export function formatRow(r: IdleResult): string {
  const mib = (b: number) => (b / 1048576).toFixed(1);
  const perConn = (r.rssAfter - r.rssBefore) / r.conns / 1024;
  return `| ${r.broker} | ${r.conns} | ${mib(r.rssBefore)} | ${mib(r.rssAfter)} | ${perConn.toFixed(2)} | ` +
    `${r.held} / ${r.conns} | ${r.connectSecs.toFixed(1)} |`;
}

async function main(): Promise<number> {
  const limit = await openFileLimit();
  const line = readCommandLine(Deno.args, USAGE, (rest) => parseIdleArgs(rest, limit));
  if ("exit" in line) return line.exit;
  const { args: a, lowered } = line.args;
  if (lowered) {
    console.error(`the open-file limit is ${limit}: measuring ${a.conns} connections instead of ${TARGET}`);
  }
  const dir = await Deno.makeTempDir({ prefix: "idle-connections-" });
  const rows: string[] = [];
  let failed = false;
  try {
    for (let run = 0; run < a.runs; run++) {
      for (const kind of a.brokers) {
        try {
          const r = await measureOne(kind, a, dir);
          rows.push(formatRow(r));
          if (r.held !== r.conns) failed = true;
          console.error(rows.at(-1));
        } catch (err) {
          failed = true;
          rows.push(`| ${kind} | ${a.conns} | — | — | — | failed: ${(err as Error).message} | — |`);
          console.error(rows.at(-1));
        }
      }
    }
  } finally {
    killAll();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  console.log(
    [
      `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC; idle connections, keep-alive 60 s, ` +
      `held ${a.hold} s; ` +
      (a.subscribe === null ? "" : `one QoS ${a.subscribe} subscription each; `) + `open-file limit ${limit}`,
      ...await describeMachine(a.brokers),
      "",
      "| broker | connections | RSS before (MiB) | RSS after (MiB) | KiB per connection | held | connect s |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...rows,
    ].join("\n"),
  );
  return failed ? 1 : 0;
}

if (import.meta.main) {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      killAll();
      Deno.exit(130);
    });
  }
  Deno.exit(await main());
}
