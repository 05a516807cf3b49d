/**
 * Where the memory of an idle connection goes, by V8 object kind: this project's main.ts is
 * started with the inspector, warmed up, and two heap snapshots (each after a full GC) are
 * taken around opening N idle clients (clean session, keep-alive 60 s, optionally one
 * subscription each to `idle/<id>/cmd`). The difference is printed per connection, largest
 * first: object kind and constructor, objects and self bytes per connection. `--retainers`
 * also lists what holds the objects of the kinds named (e.g. "closure:,object:Promise").
 *
 *   deno task bench:heap -- [--conns 3000] [--subscribe 1] [--retainers KINDS]
 *
 * The bytes are V8's self sizes: the RSS that bench:idle reports is larger (the heap's own
 * slack, Deno's per-socket state outside the heap). 127.0.0.1 only, bounded by the count.
 */
import { freePort } from "./loadgen/broker_launchers.ts";
import { readCommandLine, withoutSeparator } from "./loadgen/options.ts";
import { encodeConnect, encodeSubscribe } from "./loadgen/wire.ts";

const USAGE = "usage: deno task bench:heap -- [--conns 3000] [--subscribe 0|1|2] [--retainers KIND,KIND]";

const root = new URL("../../", import.meta.url).pathname;

interface HeapArgs {
  conns: number;
  subscribe: 0 | 1 | 2 | null;
  retainers: string[];
}

function parseArgs(argv: string[]): HeapArgs {
  argv = withoutSeparator(argv);
  const a: HeapArgs = { conns: 3000, subscribe: null, retainers: [] };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--conns") a.conns = Number(v);
    else if (flag === "--subscribe") {
      if (v !== "0" && v !== "1" && v !== "2") throw new Error("--subscribe takes a QoS: 0, 1 or 2");
      a.subscribe = Number(v) as 0 | 1 | 2;
    } else if (flag === "--retainers") a.retainers = v.split(",");
    else throw new Error(`unknown argument ${flag}`);
  }
  if (!(a.conns >= 1)) throw new Error("--conns ≥ 1");
  return a;
}

/** Per kind ("type:constructor"): objects and self bytes. */
type Census = Map<string, { count: number; bytes: number }>;

interface Snapshot {
  snapshot: { meta: Record<string, unknown[]> };
  nodes: number[];
  edges: number[];
  strings: string[];
}

function kindOf(snap: Snapshot, types: string[], at: number): string {
  const type = types[snap.nodes[at]];
  if (type === "string" || type === "concatenated string" || type === "sliced string") return "string";
  if (type === "code") return "code";
  return `${type}:${snap.strings[snap.nodes[at + 1]].slice(0, 60)}`;
}

function census(snap: Snapshot): Census {
  const fields = (snap.snapshot.meta.node_fields as string[]).length;
  const types = snap.snapshot.meta.node_types[0] as string[];
  const self = (snap.snapshot.meta.node_fields as string[]).indexOf("self_size");
  const out: Census = new Map();
  for (let at = 0; at < snap.nodes.length; at += fields) {
    const kind = kindOf(snap, types, at);
    const c = out.get(kind) ?? { count: 0, bytes: 0 };
    c.count++;
    c.bytes += snap.nodes[at + self];
    out.set(kind, c);
  }
  return out;
}

/** Which kinds hold objects of `kinds`, and by which property: "held <- holder .property", by count. */
function retainers(snap: Snapshot, kinds: string[]): [string, number][] {
  const meta = snap.snapshot.meta;
  const fields = (meta.node_fields as string[]).length;
  const edgeCount = (meta.node_fields as string[]).indexOf("edge_count");
  const types = meta.node_types[0] as string[];
  const edgeFields = (meta.edge_fields as string[]).length;
  const edgeTypes = meta.edge_types[0] as string[];
  const out = new Map<string, number>();
  let e = 0;
  for (let at = 0; at < snap.nodes.length; at += fields) {
    const holder = kindOf(snap, types, at);
    for (let k = 0; k < snap.nodes[at + edgeCount]; k++, e += edgeFields) {
      const held = kindOf(snap, types, snap.edges[e + 2]);
      if (!kinds.includes(held)) continue;
      const type = edgeTypes[snap.edges[e]];
      const name = type === "element" || type === "hidden" ? `[${type}]` : snap.strings[snap.edges[e + 1]];
      const key = `${held} <- ${holder} .${name}`;
      out.set(key, (out.get(key) ?? 0) + 1);
    }
  }
  return [...out].sort((x, y) => y[1] - x[1]);
}

/** A Chrome DevTools Protocol session over the inspector's WebSocket. */
class Inspector {
  #ws: WebSocket;
  #id = 0;
  #pending = new Map<number, () => void>();
  #chunks: string[] = [];

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.method === "HeapProfiler.addHeapSnapshotChunk") this.#chunks.push(m.params.chunk);
      else if (m.id !== undefined) this.#pending.get(m.id)?.();
    };
  }

  static async open(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => (ws.onopen = resolve, ws.onerror = reject));
    return new Inspector(ws);
  }

  call(method: string, params: Record<string, unknown> = {}): Promise<void> {
    const id = ++this.#id;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  async snapshot(): Promise<Snapshot> {
    await this.call("HeapProfiler.collectGarbage");
    this.#chunks = [];
    await this.call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    const snap = JSON.parse(this.#chunks.join(""));
    this.#chunks = [];
    return snap;
  }

  close(): void {
    this.#ws.close();
  }
}

async function readExactly(conn: Deno.Conn, n: number): Promise<void> {
  const out = new Uint8Array(n);
  for (let got = 0; got < n;) {
    const r = await conn.read(out.subarray(got));
    if (r === null) throw new Error("closed by the broker");
    got += r;
  }
}

async function openIdle(port: number, id: string, subscribe: HeapArgs["subscribe"]): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encodeConnect(4, { clientId: id, clean: true, keepAlive: 60 }));
  await readExactly(conn, 4);
  if (subscribe !== null) {
    await conn.write(encodeSubscribe(4, 1, `idle/${id}/cmd`, subscribe));
    await readExactly(conn, 5);
  }
  return conn;
}

async function openMany(port: number, n: number, prefix: string, a: HeapArgs): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 100); j++) batch.push(openIdle(port, `${prefix}${j}`, a.subscribe));
    conns.push(...await Promise.all(batch));
  }
  return conns;
}

async function main(): Promise<number> {
  const line = readCommandLine(Deno.args, USAGE, parseArgs);
  if ("exit" in line) return line.exit;
  const a: HeapArgs = line.args;
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "idle-heap-" });
  await Deno.writeTextFile(
    `${dir}/broker.yaml`,
    `listeners:\n  - { type: tcp, host: 127.0.0.1, port: ${port} }\npersistence: { type: memory }\n` +
      `limits: { max_connections: 0 }\nlog: { level: warning }\n`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--inspect=127.0.0.1:0",
      "--unstable-kv",
      "-A",
      `${root}main.ts`,
      "--config",
      `${dir}/broker.yaml`,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const conns: Deno.Conn[] = [];
  try {
    // The inspector prints its address first; the rest of stderr is drained.
    const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!/ws:\/\/\S+/.test(text)) {
      const r = await lines.read();
      if (r.done) throw new Error(`the broker did not start: ${text}`);
      text += r.value;
    }
    (async () => {
      while (!(await lines.read()).done);
    })();
    const inspector = await Inspector.open(text.match(/ws:\/\/\S+/)![0]);
    for (let tries = 0;; tries++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch (err) {
        if (tries > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // Warm-up: the code paths of a connection compiled before the first snapshot.
    for (const c of await openMany(port, 200, "warm-", a)) c.close();
    await new Promise((r) => setTimeout(r, 1500));
    const before = census(await inspector.snapshot());
    conns.push(...await openMany(port, a.conns, "idle-", a));
    await new Promise((r) => setTimeout(r, 3000));
    const snap = await inspector.snapshot();
    const after = census(snap);
    const rows: [string, number, number][] = [];
    let total = 0;
    for (const [kind, c] of after) {
      const b = before.get(kind) ?? { count: 0, bytes: 0 };
      total += c.bytes - b.bytes;
      rows.push([kind, (c.count - b.count) / a.conns, (c.bytes - b.bytes) / a.conns]);
    }
    rows.sort((x, y) => y[2] - x[2]);
    console.log(
      `${a.conns} idle connections${
        a.subscribe === null ? "" : `, one QoS ${a.subscribe} subscription each`
      }`,
    );
    console.log(`V8 heap, self bytes per connection: ${(total / a.conns).toFixed(0)}\n`);
    console.log("| bytes | objects | kind:constructor |\n| ---: | ---: | --- |");
    for (const [kind, count, bytes] of rows.filter((r) => r[2] >= 8)) {
      console.log(`| ${bytes.toFixed(0)} | ${count.toFixed(2)} | ${kind} |`);
    }
    if (a.retainers.length > 0) {
      console.log("\n| objects | held <- holder .property |\n| ---: | --- |");
      for (const [edge, n] of retainers(snap, a.retainers).slice(0, 40)) console.log(`| ${n} | ${edge} |`);
    }
    inspector.close();
    return 0;
  } finally {
    for (const c of conns) c.close();
    child.kill();
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main());
