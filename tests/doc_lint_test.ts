/**
 * The package's public API is documented: `deno doc --lint` passes on the four entries
 * (every exported symbol has JSDoc, no private type leaks), and everything `src/mod.ts`
 * exports shows an @example (DESIGN.md, rule 10).
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url).pathname;
const ENTRIES = ["src/mod.ts", "src/server_mod.ts", "src/cluster_mod.ts", "src/serverless_mod.ts"];

async function deno(...args: string[]): Promise<{ ok: boolean; out: string }> {
  const out = await new Deno.Command(Deno.execPath(), { args, cwd: root, env: { NO_COLOR: "1" } }).output();
  const text = new TextDecoder();
  return { ok: out.success, out: text.decode(out.stdout) + text.decode(out.stderr) };
}

Deno.test("deno doc --lint passes on the package's entries", async () => {
  const { ok, out } = await deno("doc", "--lint", ...ENTRIES);
  assert.ok(ok, out);
});

interface DocSymbol {
  name: string;
  declarations: { location: { filename: string; line: number }; jsDoc?: { tags?: { kind: string }[] } }[];
}

Deno.test("everything src/mod.ts exports has an @example", async () => {
  const { ok, out } = await deno("doc", "--json", "src/mod.ts");
  assert.ok(ok, out);
  const nodes = (JSON.parse(out) as { nodes: Record<string, { symbols: DocSymbol[] }> }).nodes;
  const symbols = nodes[`file://${root}src/mod.ts`].symbols;
  const missing = symbols.filter((s) =>
    !s.declarations.some((d) => d.jsDoc?.tags?.some((t) => t.kind === "example"))
  ).map((s) => `${s.name} (${s.declarations[0].location.filename.slice(`file://${root}`.length)})`);
  assert.deepEqual(missing, []);
});
