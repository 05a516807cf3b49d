/**
 * The folders are the architecture (README, Layout): imports point one way,
 * protocol ← broker ← transport, persistence, auth, config, log ← the public Broker
 * (public_broker.ts) ← bridge, cluster, admin, serverless ← the server program ← the
 * entries (main.ts, serverless.ts, the package's exports). The engine sees persistence/store.ts and transport/socket.ts as
 * types only; config/schema.ts imports nothing and every layer may read it. Siblings of
 * one layer may share a type, never running code. And no import cycle, type-only ones
 * included, beyond the named ones below.
 *
 * The imports are read by Deno's own parser (`deno info --json`), which tells runtime,
 * type-only and dynamic imports apart.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url).pathname;

type Kind = "code" | "type" | "dynamic";
interface Edge {
  from: string;
  to: string;
  kind: Kind;
}

/** A named exception: an import that exists today and why it is allowed until it goes. */
interface Known {
  from: string;
  to: string;
  reason: string;
}

/**
 * Edges allowed to close a cycle (none since #19: the graph of src/ is acyclic). An entry
 * must name its reason; the last test fails on an entry whose import is gone.
 */
const KNOWN_CYCLE_EDGES: Known[] = [];

/** Imports against the layering that exist today (none). */
const KNOWN_VIOLATIONS: Known[] = [];

/** Layers from the bottom; a folder (or top-level file) belongs to the first that matches. */
const LAYERS: [string, RegExp][] = [
  ["protocol", /^src\/protocol\//],
  ["engine", /^src\/broker\//],
  ["adapters", /^src\/(transport|persistence|auth|config|log)\//],
  ["library", /^src\/public_broker\.ts$/],
  ["extensions", /^src\/(bridge|cluster|admin|serverless)\//],
  ["program", /^src\/(server|preflight)\.ts$/],
  ["entries", /^(main\.ts|serverless\.ts|src\/([a-z_]+_)?mod\.ts)$/],
];

const ENGINE_INTERFACES = ["src/persistence/store.ts", "src/transport/socket.ts"];
const LEAF = "src/config/schema.ts";

function layerOf(path: string): { layer: number; name: string; unit: string } {
  const layer = LAYERS.findIndex(([, pattern]) => pattern.test(path));
  if (layer < 0) {
    throw new Error(`${path} belongs to no layer: add its folder to LAYERS (and README's Layout)`);
  }
  const folder = path.match(/^src\/([a-z_]+)\//)?.[1];
  return { layer, name: LAYERS[layer][0], unit: folder ?? path };
}

/** Every .ts file under src/, relative to the repository root. */
async function sourceFiles(dir = "src"): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(`${root}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await sourceFiles(path));
    else if (path.endsWith(".ts")) out.push(path);
  }
  return out;
}

interface InfoModule {
  specifier: string;
  dependencies?: {
    code?: { specifier: string };
    type?: { specifier: string };
    isDynamic?: boolean;
  }[];
}

/** The imports between the repository's own modules, from the entries and every file of src/. */
async function importGraph(): Promise<{ files: Set<string>; edges: Edge[] }> {
  const prefix = `file://${root}`;
  const local = (specifier: string | undefined) =>
    specifier?.startsWith(prefix) && specifier.endsWith(".ts") ? specifier.slice(prefix.length) : undefined;
  const files = new Set<string>();
  const edges: Edge[] = [];
  const pending = ["main.ts", "serverless.ts", ...await sourceFiles()];
  for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
    if (files.has(next)) continue;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", `${root}${next}`],
      env: { NO_COLOR: "1" },
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const modules = (JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] }).modules;
    for (const module of modules) {
      const from = local(module.specifier);
      if (from === undefined || files.has(from)) continue;
      files.add(from);
      for (const dep of module.dependencies ?? []) {
        const code = local(dep.code?.specifier);
        const type = local(dep.type?.specifier);
        if (code !== undefined) edges.push({ from, to: code, kind: dep.isDynamic ? "dynamic" : "code" });
        // A type-only import of a module also imported for its code adds nothing.
        if (type !== undefined && (code === undefined || dep.isDynamic)) {
          edges.push({ from, to: type, kind: "type" });
        }
      }
    }
  }
  return { files, edges };
}

/** Why an import runs against the layering, or undefined when it does not. */
function violation(edge: Edge): string | undefined {
  if (edge.to === LEAF) return undefined;
  const from = layerOf(edge.from);
  const to = layerOf(edge.to);
  if (from.unit === to.unit) return undefined;
  if (from.name === "engine" && to.layer > from.layer) {
    if (ENGINE_INTERFACES.includes(edge.to) && edge.kind === "type") return undefined;
    return "the engine sees only persistence/store.ts and transport/socket.ts, and as types";
  }
  if (to.layer < from.layer) return undefined;
  if (to.layer === from.layer && edge.kind === "type") return undefined;
  return to.layer === from.layer
    ? `${from.unit} and ${to.unit} are siblings (${from.name}): they may share types, not code`
    : `${from.name} (${from.unit}) may not import ${to.name} (${to.unit})`;
}

/** One cycle of the graph as a path, or undefined when it has none. */
function findCycle(edges: Edge[]): string[] | undefined {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...next.get(e.from) ?? [], e.to]);
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "open") return [...path.slice(path.indexOf(node)), node];
    state.set(node, "open");
    path.push(node);
    for (const to of next.get(node) ?? []) {
      const cycle = visit(to);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of next.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

const same = (e: Edge, k: Known) => e.from === k.from && e.to === k.to;
const graph = await importGraph();

Deno.test("every file of src/ is read, and belongs to a layer", async () => {
  for (const file of await sourceFiles()) {
    assert.ok(graph.files.has(file), `${file} was not read`);
    layerOf(file);
  }
});

Deno.test("no import runs against the layering", () => {
  const found = graph.edges.flatMap((e) => {
    const why = violation(e);
    return why === undefined || KNOWN_VIOLATIONS.some((k) => same(e, k))
      ? []
      : [`${e.from} → ${e.to}: ${why}`];
  });
  assert.deepEqual(found, []);
});

Deno.test("config/schema.ts, which every layer may read, imports nothing", () => {
  assert.deepEqual(graph.edges.filter((e) => e.from === LEAF), []);
});

Deno.test("the imports form no cycle beyond the named ones", () => {
  const rest = graph.edges.filter((e) => !KNOWN_CYCLE_EDGES.some((k) => same(e, k)));
  const cycle = findCycle(rest);
  assert.equal(cycle, undefined, `an import cycle: ${cycle?.join(" → ")}`);
});

Deno.test("each named exception still exists (remove it from the list once its import is gone)", () => {
  for (const known of [...KNOWN_CYCLE_EDGES, ...KNOWN_VIOLATIONS]) {
    assert.ok(
      graph.edges.some((e) => same(e, known)),
      `${known.from} → ${known.to} is gone: ${known.reason}`,
    );
  }
  // And each named cycle edge is needed: without the list the graph has a cycle.
  if (KNOWN_CYCLE_EDGES.length > 0) assert.notEqual(findCycle(graph.edges), undefined);
});
