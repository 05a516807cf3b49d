/**
 * Logging setup on LogTape: categories per layer under ["mqtt", ...], levels
 * per category, a line per record readable by a person (default) or JSON
 * lines. A library that never calls configureLogging prints nothing.
 *
 * @module
 */
import {
  configure,
  getLogger,
  type Logger,
  type LogLevel,
  type LogRecord,
  type Sink,
} from "@logtape/logtape";
import type { BrokerConfig } from "../config/schema.ts";

export type LogConfig = BrokerConfig["log"];

const encoder = new TextEncoder();

/** The broker's logger for a layer, e.g. getLog("transport") → ["mqtt", "transport"]. */
export function getLog(...category: string[]): Logger {
  return getLogger(["mqtt", ...category]);
}

function render(record: LogRecord): string {
  return record.message.map((part) => typeof part === "string" ? part : JSON.stringify(part)).join("");
}

/** One human-readable line: time, level, category, message. */
export function textLine(record: LogRecord): string {
  const time = new Date(record.timestamp).toISOString();
  return `${time} ${record.level.toUpperCase().padEnd(7)} ${record.category.join(".")}: ${render(record)}\n`;
}

/** One JSON object per line, with the structured properties. */
export function jsonLine(record: LogRecord): string {
  return JSON.stringify({
    time: new Date(record.timestamp).toISOString(),
    level: record.level,
    category: record.category.join("."),
    message: render(record),
    ...record.properties,
  }) + "\n";
}

/** A sink writing to stderr, synchronously (log volume is low; ordering matters more). */
export function stderrSink(format: LogConfig["format"]): Sink {
  const line = format === "json" ? jsonLine : textLine;
  return (record) => {
    Deno.stderr.writeSync(encoder.encode(line(record)));
  };
}

/**
 * (Re)configures logging from the `log` section.
 *
 * @example
 * ```ts
 * import { configureLogging } from "../mod.ts";
 * await configureLogging({ level: "warning", format: "json", categories: {}, payloads: false });
 * ```
 * Safe to call again on SIGHUP.
 * `sink` replaces stderr (tests capture records with it).
 */
export async function configureLogging(config: LogConfig, sink?: Sink): Promise<void> {
  const loggers = [
    { category: ["mqtt"], sinks: ["main"], lowestLevel: config.level as LogLevel },
    // A category override replaces the parent's level in both directions (more or less verbose).
    ...Object.entries(config.categories).map(([name, level]) => ({
      category: name.split("."),
      sinks: ["main"],
      parentSinks: "override" as const,
      lowestLevel: level as LogLevel,
    })),
    // LogTape reports its own problems under this category; keep only the serious ones.
    { category: ["logtape", "meta"], sinks: ["main"], lowestLevel: "warning" as LogLevel },
  ];
  await configure({ reset: true, sinks: { main: sink ?? stderrSink(config.format) }, loggers });
}

/** A payload for debug logs: a short preview when enabled, else a placeholder. */
export function payloadForLog(bytes: Uint8Array, enabled: boolean): string {
  if (!enabled) return "<hidden>";
  const preview = bytes.subarray(0, 64);
  const text = new TextDecoder("utf-8", { fatal: false }).decode(preview);
  return bytes.length > 64 ? `${text}… (${bytes.length} bytes)` : text;
}
