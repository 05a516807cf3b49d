/**
 * An end-to-end MQTT load generator in TypeScript, usable against any broker:
 *
 *   deno task loadgen -- --scenario fanout --port 1883 [--qos 1] [--count 20000] [--proto 5] [--json]
 *
 * Publishers and subscribers run in this process on raw TCP with a small local
 * encoder (not the project's codec), pre-encoded PUBLISH packets and coalesced
 * writes. Payloads carry a send timestamp, the publisher index and a sequence
 * number, so end-to-end latency, loss and duplicates are measured. A progress
 * line goes to stderr once per second; the last stdout line is the summary. The
 * run always ends by itself (--duration caps it). Exit codes: 0 done, 1 a
 * connection failed, 2 usage error.
 */
import { type LoadProgress, type LoadSummary, runLoad } from "./loadgen/load_run.ts";
import { parseOptions, readCommandLine, USAGE, UsageError } from "./loadgen/options.ts";

export { runLoad } from "./loadgen/load_run.ts";
export { parseOptions } from "./loadgen/options.ts";

/** `key=value` pairs in the style of mqttload's last line, so the same parsers read both. */
export function formatSummary(s: LoadSummary): string {
  const { error, rate, ...rest } = s;
  const [first, second, ...others] = Object.entries(rest);
  const pairs = [first, second, ["rate", `${rate} msg/s`], ...others].map(([k, v]) => `${k}=${v}`);
  return error === undefined ? pairs.join(" ") : `${pairs.join(" ")} error=${JSON.stringify(error)}`;
}

function progressLine(p: LoadProgress): string {
  const rate = p.secs > 0 ? Math.round(p.delivered / p.secs) : 0;
  return `${
    p.secs.toFixed(0)
  }s published=${p.published} acked=${p.acked} delivered=${p.delivered}/${p.expected} ` +
    `rate=${rate} msg/s`;
}

async function main(argv: string[]): Promise<number> {
  const line = readCommandLine(argv, USAGE, parseOptions, (err) => err instanceof UsageError);
  if ("exit" in line) return line.exit;
  const options = line.args;
  const terminal = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const onProgress = (p: LoadProgress) => {
    // On a terminal the line rewrites itself; in a log every second gets its own line.
    const text = terminal ? `\r${progressLine(p)}\x1b[K` : `${progressLine(p)}\n`;
    Deno.stderr.writeSync(encoder.encode(text));
  };
  let summary: LoadSummary;
  try {
    summary = await runLoad(options, { onProgress });
  } catch (err) {
    console.error(`load test failed: ${(err as Error).message}`);
    return 1;
  }
  if (terminal) Deno.stderr.writeSync(encoder.encode("\n"));
  if (summary.error !== undefined) console.error(`connection failed: ${summary.error}`);
  console.log(options.json ? JSON.stringify(summary) : formatSummary(summary));
  return summary.error === undefined ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
