/**
 * docs/configuration.md and the annotated example stay in step with the schema: every
 * key has a row, and each row's type and default are the ones the schema declares.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load_config.ts";
import { configSchema, type Field } from "../../src/config/schema.ts";

const root = new URL("../../", import.meta.url).pathname;

/** Every key path of the schema with its field, e.g. `listeners[].port`. */
function keys(field: Field, path: string, out: [string, Field][]): [string, Field][] {
  if (field.kind === "object") {
    for (const [k, f] of Object.entries(field.fields)) keys(f, path ? `${path}.${k}` : k, out);
  } else if (field.kind === "list") {
    out.push([path, field]);
    keys(field.item, `${path}[]`, out);
  } else out.push([path, field]);
  return out;
}

/** The type column as the schema says it; lists and maps may say more ("list of strings"). */
function typeCell(field: Field): string | RegExp {
  switch (field.kind) {
    case "int":
      return `integer ${field.min}..${field.max}`;
    case "enum":
      return field.values.join(" \\| ");
    case "string":
      return field.required ? "string (required)" : "string";
    case "list":
      return /^list\b/;
    case "map":
      return /^map\b/;
    default:
      return field.kind;
  }
}

/** The default column for a key with a default in the schema; other keys describe theirs in words. */
function defaultCell(field: Field): string | undefined {
  if (!("default" in field) || field.kind === "list") return undefined;
  return field.default === "" ? '`""`' : `\`${field.default}\``;
}

/** The "Every key" table: key → [type, default, meaning]. */
async function documentedKeys(): Promise<Map<string, string[]>> {
  const doc = await Deno.readTextFile(`${root}docs/configuration.md`);
  const rows = new Map<string, string[]>();
  for (const line of doc.split("\n")) {
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
    const key = cells[0]?.match(/^`([a-z0-9_.[\]]+)`$/)?.[1];
    if (key !== undefined && cells.length === 4) rows.set(key, cells.slice(1));
  }
  return rows;
}

Deno.test("docs/configuration.md has one row per configuration key and no row for a key that does not exist", async () => {
  const rows = await documentedKeys();
  const schemaKeys = keys(configSchema, "", []).map(([k]) => k);
  assert.deepEqual(schemaKeys.filter((k) => !rows.has(k)), [], "keys without a row");
  assert.deepEqual([...rows.keys()].filter((k) => !schemaKeys.includes(k)), [], "rows without a key");
});

Deno.test("each documented key shows the type and the default the schema declares", async () => {
  const rows = await documentedKeys();
  for (const [key, field] of keys(configSchema, "", [])) {
    const [type, fallback, meaning] = rows.get(key)!;
    const expected = typeCell(field);
    if (typeof expected === "string") assert.equal(type, expected, `${key}: type`);
    else assert.match(type, expected, `${key}: type`);
    const literal = defaultCell(field);
    if (literal !== undefined) assert.equal(fallback, literal, `${key}: default`);
    assert.ok(meaning.length > 0, `${key}: meaning`);
  }
});

Deno.test("every default in the schema is a value its own key accepts", () => {
  for (const [key, field] of keys(configSchema, "", [])) {
    if (field.kind === "int" && field.default !== undefined) {
      assert.ok(field.default >= field.min && field.default <= field.max, key);
    }
    if (field.kind === "enum" && field.default !== undefined) {
      assert.ok(field.values.includes(field.default), key);
    }
  }
});

Deno.test("examples/broker.yaml is a valid configuration", async () => {
  const text = await Deno.readTextFile(`${root}examples/broker.yaml`);
  const config = parseConfig(text, "examples/broker.yaml", { checkFiles: false, env: {} });
  assert.deepEqual(config.listeners.map((l) => l.type), ["tcp", "tls", "ws", "wss"]);
  assert.equal(config.auth.password_file, "./passwords");
});
