/**
 * The package's edge (issue #19): each entry loads only what it runs. Importing the
 * library reaches neither the YAML parser nor the NATS client; the broker program
 * reaches no test tool; `deno run` and `deno task` install the lock file's whole npm
 * snapshot, so the test tools are locked in tests/deno.lock, not in the program's
 * deno.lock; and the program starts and serves from a Deno cache that holds only its
 * own npm packages, without the NATS client when no cluster is configured.
 */
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { freePort, launch } from "./_helpers/broker_process.ts";

const root = new URL("../", import.meta.url).pathname;
const TEST_TOOLS = ["mqtt", "playwright-core"];
const NATS = ["nats", "nkeys.js", "tweetnacl"];

interface GraphPackage {
  name: string;
  dependencies: string[];
  localPath?: string;
}

/** The npm packages an entry's module graph reaches (with what they depend on), by id `name@version`. */
async function npmGraph(entry: string): Promise<Map<string, GraphPackage>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", `${root}deno.json`, `${root}${entry}`],
    env: { NO_COLOR: "1" },
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { kind: string; npmPackage?: string }[];
    npmPackages: Record<string, GraphPackage>;
  };
  // npmPackages is the lock file's whole snapshot: walk from the packages the graph imports.
  const reached = new Map<string, GraphPackage>();
  const pending = info.modules.flatMap((m) => m.kind === "npm" && m.npmPackage ? [m.npmPackage] : []);
  for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
    if (reached.has(id)) continue;
    reached.set(id, info.npmPackages[id]);
    pending.push(...info.npmPackages[id].dependencies);
  }
  return reached;
}

const names = (graph: Map<string, GraphPackage>) =>
  [...new Set([...graph.values()].map((p) => p.name))].sort();

Deno.test("importing the library (src/mod.ts) reaches no YAML parser, NATS client or test tool", async () => {
  const reached = names(await npmGraph("src/mod.ts"));
  assert.deepEqual(reached.filter((n) => ["yaml", ...NATS, ...TEST_TOOLS].includes(n)), []);
  assert.deepEqual(reached, ["@logtape/logtape"]);
});

Deno.test("the broker program (main.ts, serverless.ts) reaches no test tool", async () => {
  for (const entry of ["main.ts", "serverless.ts"]) {
    const reached = names(await npmGraph(entry));
    assert.deepEqual(reached.filter((n) => TEST_TOOLS.includes(n)), [], entry);
  }
});

Deno.test("each subpath export reaches only the dependencies of its job", async () => {
  const exports = denoJson.exports as Record<string, string>;
  assert.deepEqual(Object.keys(exports).sort(), [".", "./cluster", "./server", "./serverless"]);
  const forbidden: Record<string, string[]> = {
    ".": ["yaml", ...NATS, ...TEST_TOOLS],
    "./serverless": ["yaml", ...NATS, ...TEST_TOOLS],
    "./cluster": ["yaml", ...TEST_TOOLS],
    "./server": TEST_TOOLS,
  };
  for (const [subpath, file] of Object.entries(exports)) {
    const reached = names(await npmGraph(file.replace(/^\.\//, "")));
    assert.deepEqual(reached.filter((n) => forbidden[subpath].includes(n)), [], subpath);
  }
});

Deno.test("test tools resolve only for tests: src/ cannot import them", () => {
  const imports = denoJson.imports as Record<string, string>;
  const scoped = (denoJson.scopes as Record<string, Record<string, string>>)["./tests/"];
  for (const tool of TEST_TOOLS) {
    assert.equal(imports[tool], undefined, `${tool} is in the root imports`);
    assert.match(scoped[tool], /^npm:[^@]+@\d+\.\d+\.\d+$/, `${tool} is pinned for tests/`);
  }
  for (const [name, specifier] of Object.entries(imports)) {
    assert.match(specifier, /^npm:(@[^/]+\/)?[^@]+@\d+\.\d+\.\d+$/, `${name} is pinned`);
  }
});

Deno.test("the program's lock file holds no test tool; the test tasks use their own", async () => {
  // `deno task` installs the lock file's whole npm snapshot before running any task.
  const lock = JSON.parse(await Deno.readTextFile(`${root}deno.lock`)) as { npm: Record<string, unknown> };
  const locked = Object.keys(lock.npm).map((id) => id.replace(/(.)@.*$/, "$1"));
  assert.deepEqual(locked.filter((name) => TEST_TOOLS.includes(name)), [], "deno.lock");
  const tasks = denoJson.tasks as Record<string, string>;
  for (const task of ["test", "check", "bench", "bench:compare", "bench:gate", "bench:idle", "loadgen"]) {
    assert.match(tasks[task], /deno (test|check|bench|run) --lock=tests\/deno\.lock /, task);
  }
});

/** Copies the given packages from the Deno cache into a fresh DENO_DIR under `dir`. */
async function freshCache(dir: string, packages: Iterable<GraphPackage>): Promise<string> {
  const denoDir = `${dir}/deno_dir`;
  for (const pkg of packages) {
    if (pkg.localPath === undefined) continue;
    const from = pkg.localPath.replace(/\/[^/]+$/, ""); // the package's folder: versions and packument
    const to = `${denoDir}/npm/registry.npmjs.org/${pkg.name}`;
    await Deno.mkdir(to, { recursive: true });
    const cp = await new Deno.Command("cp", { args: ["-r", `${from}/.`, to] }).output();
    assert.ok(cp.success, new TextDecoder().decode(cp.stderr));
  }
  return denoDir;
}

/** Runs main.ts from `denoDir` alone (`--cached-only`) under the start task's flags, serves, stops. */
async function serveFromCache(dir: string, denoDir: string, extraFlags: string[]): Promise<void> {
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/broker.yaml`,
    `listeners:\n  - { type: tcp, host: 127.0.0.1, port: ${port} }\npersistence: { type: memory }\n`,
  );
  const start = denoJson.tasks.start.split(/\s+/).filter((w) => w.startsWith("--"));
  const program = await launch("env", [
    `DENO_DIR=${denoDir}`,
    Deno.execPath(),
    "run",
    "--cached-only",
    ...extraFlags,
    "--config",
    `${root}deno.json`,
    ...start,
    `${root}main.ts`,
    "--config",
    `${dir}/broker.yaml`,
  ], { port, dir });
  const status = await program.stop();
  assert.equal(status.code, 0, program.output());
  assert.match(program.output(), /Listening on tcp/);
}

Deno.test({
  name: "main.ts starts and serves from a Deno cache holding only its own packages: no test tool is fetched",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "module-graph-" });
    try {
      await serveFromCache(dir, await freshCache(dir, (await npmGraph("main.ts")).values()), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "without cluster.nats.servers, main.ts never loads the NATS client",
  sanitizeResources: false,
  async fn() {
    const nats = new Set(names(await npmGraph("src/cluster_mod.ts")).filter((n) => NATS.includes(n)));
    const own = [...(await npmGraph("main.ts")).values()].filter((p) => !nats.has(p.name));
    const dir = await Deno.makeTempDir({ prefix: "module-graph-" });
    try {
      // Lazy caching fetches a package when a module imports it: a missing NATS client fails only if loaded.
      await serveFromCache(dir, await freshCache(dir, own), ["--unstable-npm-lazy-caching"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
