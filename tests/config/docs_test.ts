/** The configuration reference and the annotated example stay in step with the schema. */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load_config.ts";
import { configSchema, type Field } from "../../src/config/schema.ts";

const root = new URL("../../", import.meta.url).pathname;

function keys(field: Field, path: string, out: string[]): string[] {
  if (field.kind === "object") {
    for (const [k, f] of Object.entries(field.fields)) keys(f, path ? `${path}.${k}` : k, out);
  } else if (field.kind === "list") {
    out.push(path);
    keys(field.item, `${path}[]`, out);
  } else out.push(path);
  return out;
}

Deno.test("docs/configuration.md documents every configuration key", async () => {
  const doc = await Deno.readTextFile(`${root}docs/configuration.md`);
  const missing = keys(configSchema, "", []).filter((k) => !doc.includes(`\`${k}\``));
  assert.deepEqual(missing, []);
});

Deno.test("examples/broker.yaml is a valid configuration", async () => {
  const text = await Deno.readTextFile(`${root}examples/broker.yaml`);
  const config = parseConfig(text, "examples/broker.yaml", { checkFiles: false, env: {} });
  assert.deepEqual(config.listeners.map((l) => l.type), ["tcp", "tls", "ws", "wss"]);
  assert.equal(config.auth.password_file, "./passwords");
});
