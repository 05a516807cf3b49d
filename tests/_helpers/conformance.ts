/**
 * Finds the specification statement ids cited in src/ and the tests that name
 * them, and renders the table of docs/conformance.md from them; renders the
 * differences from Mosquitto that the differential scenarios allow
 * (tests/differential/differences.ts) into the same page.
 *
 * Run it to refresh both after citing or testing a new statement or changing an
 * allowed difference: `deno task conformance`. tests/conformance_ids_test.ts
 * fails while the document is out of date.
 *
 * @module
 */

import { renderDifferences } from "../differential/differences.ts";
import { SCENARIOS } from "../differential/scenarios/all_scenarios.ts";

const ID = /\[MQTT-\d+(?:\.\d+)*-\d+\]/g;
const TABLE_START = "<!-- cited-table:start -->";
const TABLE_END = "<!-- cited-table:end -->";
const DIFFERENCES_START = "<!-- mosquitto-differences:start -->";
const DIFFERENCES_END = "<!-- mosquitto-differences:end -->";

/** Where each id is cited in src/ and which tests name it. */
export interface Citations {
  cited: Map<string, Set<string>>;
  tested: Map<string, Set<string>>;
}

async function* files(dir: string, suffix: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* files(path, suffix);
    else if (entry.name.endsWith(suffix)) yield path;
  }
}

/** Ids named inside test names: the first string argument of Deno.test / t.step. */
export function idsInTestNames(source: string): Set<string> {
  const found = new Set<string>();
  const nameCall = /(?:Deno\.test|\.step|\btest)\(\s*(?:\{\s*name:\s*)?(["'`])((?:(?!\1)[\s\S])*)\1/g;
  for (const match of source.matchAll(nameCall)) {
    for (const id of match[2].matchAll(ID)) found.add(id[0].slice(1, -1));
  }
  return found;
}

function add(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key);
  if (set === undefined) map.set(key, set = new Set());
  set.add(value);
}

/** Scans `root`/src and `root`/tests (root ends with "/"). */
export async function findCitations(root: string): Promise<Citations> {
  const cited = new Map<string, Set<string>>();
  for await (const path of files(`${root}src`, ".ts")) {
    const text = await Deno.readTextFile(path);
    for (const m of text.matchAll(ID)) add(cited, m[0].slice(1, -1), path.slice(root.length));
  }
  const tested = new Map<string, Set<string>>();
  for await (const path of files(`${root}tests`, "_test.ts")) {
    for (const id of idsInTestNames(await Deno.readTextFile(path))) add(tested, id, path.slice(root.length));
  }
  return { cited, tested };
}

/** Orders "MQTT-3.1.2-10" after "MQTT-3.1.2-9". */
function compareIds(a: string, b: string): number {
  const pa = a.slice(5).split(/[.-]/).map(Number);
  const pb = b.slice(5).split(/[.-]/).map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? -1) - (pb[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

const list = (set: Set<string> | undefined) => [...(set ?? [])].sort().map((f) => `\`${f}\``).join(", ");

/** The markdown table: one row per cited id, with where it is enforced and tested. */
export function renderTable({ cited, tested }: Citations): string {
  const rows = [...cited.keys()].sort(compareIds).map((id) =>
    `| ${id} | ${list(cited.get(id))} | ${list(tested.get(id)) || "**none**"} |`
  );
  return ["| Statement | Enforced in | Named by tests in |", "|---|---|---|", ...rows].join("\n");
}

/**
 * The generated table's rows with cells trimmed, so that a table padded by
 * `deno fmt` compares equal to a freshly rendered one.
 */
export function tableRows(doc: string): string[] {
  const start = doc.indexOf(TABLE_START);
  const end = doc.indexOf(TABLE_END);
  return doc.slice(start < 0 ? 0 : start, end < 0 ? doc.length : end).split("\n")
    .filter((line) => line.startsWith("| MQTT-"))
    .map((line) => line.split("|").map((cell) => cell.trim()).join("|"));
}

/** The document with its generated table replaced by `table`. */
export function withTable(doc: string, table: string): string {
  const start = doc.indexOf(TABLE_START);
  const end = doc.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`docs/conformance.md lacks ${TABLE_START} … ${TABLE_END}`);
  return `${doc.slice(0, start + TABLE_START.length)}\n${table}\n${doc.slice(end)}`;
}

/** The catalogue of allowed differences, each with the scenarios that show it. */
export function renderDifferenceList(): string {
  const used = new Map<string, string[]>();
  for (const s of SCENARIOS) {
    for (const id of new Set((s.expectDifference ?? []).map((e) => e.id))) {
      used.set(id, [...(used.get(id) ?? []), s.name]);
    }
  }
  return renderDifferences(used);
}

/**
 * The generated list of differences from Mosquitto in `doc` (or a freshly rendered list), with
 * white space collapsed: `deno fmt` rewraps the Markdown to the line width.
 */
export function differenceText(doc: string): string {
  const start = doc.indexOf(DIFFERENCES_START);
  const end = doc.indexOf(DIFFERENCES_END);
  const text = start < 0 ? doc : doc.slice(start + DIFFERENCES_START.length, end < 0 ? doc.length : end);
  return text.replace(/\s+/g, " ").trim();
}

/** The document with its generated list of differences replaced by `list`. */
export function withDifferences(doc: string, list: string): string {
  const start = doc.indexOf(DIFFERENCES_START);
  const end = doc.indexOf(DIFFERENCES_END);
  if (start < 0 || end < start) {
    throw new Error(`docs/conformance.md lacks ${DIFFERENCES_START} … ${DIFFERENCES_END}`);
  }
  return `${doc.slice(0, start + DIFFERENCES_START.length)}\n\n${list}\n\n${doc.slice(end)}`;
}

if (import.meta.main) {
  const root = new URL("../../", import.meta.url).pathname;
  const path = `${root}docs/conformance.md`;
  const doc = await Deno.readTextFile(path);
  const withBoth = withDifferences(
    withTable(doc, renderTable(await findCitations(root))),
    renderDifferenceList(),
  );
  await Deno.writeTextFile(path, withBoth);
  console.log(`updated ${path}`);
}
