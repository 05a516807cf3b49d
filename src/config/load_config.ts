/**
 * Reads a YAML configuration file, substitutes `${ENV}` references, validates
 * every key against the schema and fills in defaults. All problems are reported
 * together, each with the file, the line, the key path and what is expected.
 *
 * @module
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { unauthenticatedRemote } from "./admin_rules.ts";
import { bridgeProblems } from "./bridge_rules.ts";
import {
  type BrokerConfig,
  configSchema,
  defaultOf,
  type Field,
  type Infer,
  type ObjectField,
} from "./schema.ts";

/** One thing wrong with a configuration file. */
export interface ConfigProblem {
  /** The file named when parsing (its path, or a label such as `<built-in default>`). */
  file: string;
  /** 1-based line of the problem (0 when the file could not be read). */
  line: number;
  /** Key path, e.g. `listeners[1].port`. */
  key: string;
  /** What is wrong and what is expected. */
  message: string;
}

/** Thrown when a configuration is invalid; `message` lists every problem. */
export class ConfigError extends Error {
  /** Every problem found, in file order. */
  readonly problems: ConfigProblem[];

  /** An error whose message lists `problems`, one per line. */
  constructor(problems: ConfigProblem[]) {
    super(
      `invalid configuration:\n` +
        problems.map((p) => `  ${p.file}:${p.line}: ${p.key ? `${p.key}: ` : ""}${p.message}`).join("\n"),
    );
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** How {@link parseConfig} and {@link loadConfig} read a file. */
export interface ParseOptions {
  /** Environment for `${NAME}` substitution (default: Deno.env). */
  env?: Record<string, string | undefined>;
  /** Check that referenced files are readable (default true). */
  checkFiles?: boolean;
  /** Directory relative file paths are resolved against (default: the current directory). */
  baseDir?: string;
}

class Validator {
  readonly problems: ConfigProblem[] = [];
  readonly files: { key: string; path: string; line: number }[] = [];
  /** Keys already reported: rules across keys skip them rather than add follow-on errors. */
  readonly failed = new Set<string>();
  constructor(readonly file: string, readonly lines: LineCounter, readonly env: ParseOptions["env"]) {}

  problem(node: Node | null | undefined, key: string, message: string): void {
    const offset = node?.range?.[0] ?? 0;
    this.failed.add(key);
    this.problems.push({ file: this.file, line: this.lines.linePos(offset).line, key, message });
  }

  /**
   * Replaces `${NAME}` and `${NAME:-default}`; a missing variable is a problem, and the
   * value is then undefined (an empty string would fail again later, e.g. as a file path).
   */
  substitute(text: string, node: Node, key: string): string | undefined {
    let missing = false;
    const out = text.replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
      (_m, name: string, fallback?: string) => {
        const value = this.env ? this.env[name] : Deno.env.get(name);
        if (value !== undefined) return value;
        if (fallback !== undefined) return fallback;
        missing = true;
        this.problem(
          node,
          key,
          `environment variable ${name} is not set (use \${${name}:-default} for a default)`,
        );
        return "";
      },
    );
    return missing ? undefined : out;
  }

  value(field: Field, node: Node | null, key: string): unknown {
    switch (field.kind) {
      case "object":
        return this.object(field, node, key);
      case "list": {
        if (!isSeq(node)) return this.problem(node, key, "expected a list");
        return node.items.map((item, i) => this.value(field.item, item as Node, `${key}[${i}]`));
      }
      case "map": {
        if (!isMap(node)) return this.problem(node, key, "expected a mapping");
        const out: Record<string, unknown> = {};
        for (const pair of node.items) {
          const name = String(isScalar(pair.key) ? pair.key.value : pair.key);
          out[name] = this.value(field.value, pair.value as Node, `${key}.${name}`);
        }
        return out;
      }
      default:
        return this.scalar(field, node, key);
    }
  }

  /** Validates a section; the value is built by walking `field` itself, so it has the type inferred from it. */
  section<F extends ObjectField>(field: F, node: Node | null, key: string): Infer<F> {
    return this.object(field, node, key) as Infer<F>;
  }

  object(field: ObjectField, node: Node | null, key: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    if (node !== null && !isMap(node)) {
      this.problem(node, key, "expected a mapping of keys");
    } else if (node !== null) {
      for (const pair of node.items) {
        const name = String(isScalar(pair.key) ? pair.key.value : pair.key);
        const path = key ? `${key}.${name}` : name;
        const spec = field.fields[name];
        if (spec === undefined) {
          const hint = closest(name, Object.keys(field.fields));
          this.problem(pair.key as Node, path, `unknown key${hint ? ` (did you mean "${hint}"?)` : ""}`);
          continue;
        }
        seen.add(name);
        out[name] = this.value(spec, pair.value as Node, path);
      }
    }
    for (const [name, spec] of Object.entries(field.fields)) {
      if (seen.has(name)) continue;
      const def = defaultOf(spec);
      if (def !== undefined) out[name] = def;
      else if ("required" in spec && spec.required) {
        this.problem(node, key ? `${key}.${name}` : name, "is required");
      }
    }
    return out;
  }

  scalar(field: Field, node: Node | null, key: string): unknown {
    if (!isScalar(node)) return this.problem(node, key, `expected ${describe(field)}`);
    let value = node.value;
    if (typeof value === "string") {
      value = this.substitute(value, node, key);
      if (value === undefined) return undefined;
    }
    const got = JSON.stringify(value);
    switch (field.kind) {
      case "int": {
        const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
        if (typeof n !== "number" || !Number.isInteger(n) || n < field.min || n > field.max) {
          return this.problem(node, key, `expected ${describe(field)}, got ${got}`);
        }
        return n;
      }
      case "bool": {
        const b = value === "true" ? true : value === "false" ? false : value;
        if (typeof b !== "boolean") return this.problem(node, key, `expected true or false, got ${got}`);
        return b;
      }
      case "enum":
        if (typeof value !== "string" || !field.values.includes(value)) {
          return this.problem(node, key, `expected ${describe(field)}, got ${got}`);
        }
        return value;
      case "string":
      case "file":
        if (typeof value !== "string" && typeof value !== "number") {
          return this.problem(node, key, `expected a string, got ${got}`);
        }
        if (field.kind === "file") {
          this.files.push({ key, path: String(value), line: this.lines.linePos(node.range?.[0] ?? 0).line });
        }
        return String(value);
    }
    return undefined;
  }
}

function describe(field: Field): string {
  switch (field.kind) {
    case "int":
      return `an integer ${field.min}..${field.max}`;
    case "bool":
      return "true or false";
    case "enum":
      return `one of ${field.values.join(", ")}`;
    case "file":
      return "a file path";
    case "string":
      return "a string";
    default:
      return field.kind;
  }
}

/** The known key nearest to a misspelt one (edit distance ≤ 2). */
function closest(name: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j];
      row[j] = next;
    }
  }
  return row[b.length];
}

/** Cross-key rules the per-key schema cannot express. */
function checkListeners(v: Validator, config: BrokerConfig, root: Node | null): void {
  const seen = new Map<string, number>();
  const list = isMap(root) ? root.get("listeners", true) : null;
  // A listeners value that is not a list was reported already and left undefined.
  (config.listeners ?? []).forEach((l, i) => {
    if (!l) return;
    const doc = (isSeq(list) ? list.items[i] : root) as Node | null;
    const key = `listeners[${i}]`;
    const reported = (name: string) => v.failed.has(`${key}.${name}`);
    if (
      (l.type === "tls" || l.type === "wss") && (!l.cert_file || !l.key_file) &&
      !reported("cert_file") && !reported("key_file")
    ) {
      v.problem(doc, key, `a ${l.type} listener needs cert_file and key_file`);
    }
    if (l.proxy_protocol && l.type !== "tcp") {
      v.problem(
        doc,
        `${key}.proxy_protocol`,
        `PROXY protocol is supported on tcp listeners only (got ${l.type}); terminate TLS at the load balancer and use tcp`,
      );
    }
    // A host or port that was itself invalid is already reported: no "127.0.0.1:undefined" clash.
    if (l.host === undefined || l.port === undefined) return;
    const addr = `${l.host}:${l.port}`;
    if (l.port !== 0 && seen.has(addr)) {
      v.problem(doc, `${key}.port`, `${addr} is already used by listeners[${seen.get(addr)}]`);
    }
    seen.set(addr, i);
  });
}

/** The admin API without credentials is for loopback only, unless explicitly allowed. */
function checkAdmin(v: Validator, config: BrokerConfig, root: Node | null): void {
  const a = config.admin;
  if (!a.enabled || a.allow_remote_without_auth || a.host === undefined) return;
  const why = unauthenticatedRemote(a);
  if (why === null) return;
  const admin = isMap(root) ? root.get("admin", true) : null;
  const node = (isMap(admin) ? admin.get("host", true) : admin) as Node | null;
  v.problem(node, "admin.host", why);
}

/** Reports bridge problems at the line of their bridge. */
function checkBridges(v: Validator, config: BrokerConfig, root: Node | null): void {
  const list = isMap(root) ? root.get("bridges", true) : null;
  for (const p of bridgeProblems(config.bridges ?? [])) {
    v.problem((isSeq(list) ? list.items[p.index] : root) as Node | null, p.key, p.message);
  }
}

/**
 * Parses and validates configuration text. Throws ConfigError listing every problem.
 *
 * @example
 * ```ts
 * import { parseConfig } from "../server_mod.ts";
 * const config = parseConfig("mqtt:\n  max_qos: 1\n", "broker.yaml");
 * console.assert(config.mqtt.max_qos === 1 && config.listeners[0].port === 1883);
 * ```
 */
export function parseConfig(text: string, fileName: string, options: ParseOptions = {}): BrokerConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const v = new Validator(fileName, lines, options.env);
  for (const err of doc.errors) {
    v.problems.push({
      file: fileName,
      line: lines.linePos(err.pos[0]).line,
      key: "",
      message: `YAML syntax: ${err.message.split("\n")[0]}`,
    });
  }
  if (v.problems.length > 0) throw new ConfigError(v.problems);
  const root = doc.contents as Node | null;
  // No listeners key: one listener with every default (tcp 127.0.0.1:1883), from the schema.
  const config: BrokerConfig = v.section(configSchema, root, "");
  checkListeners(v, config, root);
  checkBridges(v, config, root);
  checkAdmin(v, config, root);
  if (options.checkFiles !== false) {
    for (const f of v.files) {
      const path = options.baseDir && !f.path.startsWith("/") ? `${options.baseDir}/${f.path}` : f.path;
      try {
        Deno.readFileSync(path);
      } catch (err) {
        v.problems.push({
          file: fileName,
          line: f.line,
          key: f.key,
          message: `cannot read ${path}: ${(err as Error).message}`,
        });
      }
    }
  }
  if (v.problems.length > 0) throw new ConfigError(v.problems);
  return config;
}

/**
 * Reads and validates a configuration file.
 *
 * @example
 * ```ts
 * import { loadConfig } from "../server_mod.ts";
 * const file = await Deno.makeTempFile({ suffix: ".yaml" });
 * await Deno.writeTextFile(file, "listeners:\n  - { type: tcp, port: 1999 }\n");
 * console.assert((await loadConfig(file)).listeners[0].port === 1999);
 * ```
 */
export async function loadConfig(path: string, options: ParseOptions = {}): Promise<BrokerConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new ConfigError([{
      file: path,
      line: 0,
      key: "",
      message: `cannot read the file: ${(err as Error).message}`,
    }]);
  }
  return parseConfig(text, path, options);
}
