/**
 * Logging setup on LogTape: categories per layer under ["mqtt", ...], levels
 * per category, a line per record readable by a person (default) or JSON
 * lines. A library that never calls configureLogging prints nothing.
 *
 * @module
 */
import {
  configure,
  getJsonLinesFormatter,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogLevel,
  type LogRecord,
  type Sink,
  type TextFormatter,
} from "@logtape/logtape";
import type { BrokerConfig } from "../config/schema.ts";

/**
 * The `log` section of the configuration: level, format, per-category levels, payload previews.
 *
 * @example
 * ```ts
 * import type { LogConfig } from "../mod.ts";
 * const log: Partial<LogConfig> = { level: "info", format: "json" };
 * console.log(log.level);
 * ```
 */
export type LogConfig = BrokerConfig["log"];

const encoder = new TextEncoder();

/** The broker's logger for a layer, e.g. getLog("transport") → ["mqtt", "transport"]. */
export function getLog(...category: string[]): Logger {
  return getLogger(["mqtt", ...category]);
}

/**
 * Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: in a
 * value a client chose (a client id, a user name, a topic, a reason string) they could end a
 * log line and forge the next one, or drive the terminal that shows the log.
 */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

const SHORT_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escapeOne(c: string): string {
  return SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/** `s` with every control character written as an escape (\n, \u001b, …): one log line stays one. */
export function escapeControl(s: string): string {
  CONTROL.lastIndex = 0;
  return CONTROL.test(s) ? s.replace(CONTROL, escapeOne) : s;
}

/**
 * A value in a message: LogTape alternates template text (ours) and values (often the
 * client's). Strings are written bare, anything else as JSON, and both escaped.
 */
function renderValue(value: unknown): string {
  return escapeControl(typeof value === "string" ? value : JSON.stringify(value) ?? "undefined");
}

/**
 * One human-readable line: time, level, category, message. LogTape's text formatter with
 * our value renderer (it leaves a renderer's output as it is); the template text it
 * sanitizes itself, newlines included.
 */
export const textLine: TextFormatter = getTextFormatter({
  timestamp: "rfc3339",
  level: "FULL",
  category: ".",
  value: renderValue,
  sanitize: { sgr: "escape", newlines: "escape" },
  format: ({ timestamp, level, category, message }) =>
    `${timestamp} ${level.padEnd(7)} ${category}: ${message}`,
});

const jsonLines = getJsonLinesFormatter({ properties: "flatten" });
// LogTape's JSON escapes C0 (JSON.stringify), DEL and C1; the line and paragraph separators are left.
const SEPARATORS = /[\u2028\u2029]/g;

/**
 * One JSON object per line (LogTape's JSON Lines: `@timestamp`, `level`, `message`, `logger`)
 * with the structured properties beside them. Every control character is escaped as \uXXXX,
 * so values parse back the same.
 */
export function jsonLine(record: LogRecord): string {
  const line = jsonLines(record);
  SEPARATORS.lastIndex = 0;
  return SEPARATORS.test(line) ? line.replace(SEPARATORS, escapeOne) : line;
}

/** A sink writing to stderr, synchronously (log volume is low; ordering matters more). */
export function stderrSink(format: LogConfig["format"]): Sink {
  const line = format === "json" ? jsonLine : textLine;
  return (record) => {
    Deno.stderr.writeSync(encoder.encode(line(record)));
  };
}

/**
 * (Re)configures logging from the `log` section: lines on stderr. Safe to call again on SIGHUP.
 *
 * @example
 * ```ts
 * import { configureLogging } from "../mod.ts";
 * await configureLogging({ level: "warning", format: "json", categories: {}, payloads: false });
 * ```
 */
export function configureLogging(config: LogConfig): Promise<void> {
  return configureLoggingTo(config, stderrSink(config.format));
}

/** {@link configureLogging} with the records going to `sink` instead (tests capture them). */
export async function configureLoggingTo(config: LogConfig, sink: Sink): Promise<void> {
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
  await configure({ reset: true, sinks: { main: sink }, loggers });
}

/** A payload for debug logs: a short preview when enabled, else a placeholder. */
export function payloadForLog(bytes: Uint8Array, enabled: boolean): string {
  if (!enabled) return "<hidden>";
  const preview = bytes.subarray(0, 64);
  const text = new TextDecoder("utf-8", { fatal: false }).decode(preview);
  return bytes.length > 64 ? `${text}… (${bytes.length} bytes)` : text;
}
