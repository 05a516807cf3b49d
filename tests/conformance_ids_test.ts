/**
 * Every specification statement id cited in src/ must be named by at least one
 * test, so a cited rule is never left unchecked.
 */
import assert from "node:assert/strict";

const ID = /\[MQTT-\d+(?:\.\d+)*-\d+\]/g;

async function* files(dir: string, suffix: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* files(path, suffix);
    else if (entry.name.endsWith(suffix)) yield path;
  }
}

/** Ids named inside test names: the first string argument of Deno.test / t.step. */
function idsInTestNames(source: string): Set<string> {
  const found = new Set<string>();
  const nameCall = /(?:Deno\.test|\.step|\btest)\(\s*(?:\{\s*name:\s*)?(["'`])((?:(?!\1)[\s\S])*)\1/g;
  for (const match of source.matchAll(nameCall)) {
    for (const id of match[2].matchAll(ID)) found.add(id[0]);
  }
  return found;
}

Deno.test("every statement id cited in src/ is named by a test", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const cited = new Map<string, string>();
  for await (const path of files(`${root}src`, ".ts")) {
    const text = await Deno.readTextFile(path);
    for (const m of text.matchAll(ID)) if (!cited.has(m[0])) cited.set(m[0], path.slice(root.length));
  }
  const tested = new Set<string>();
  for await (const path of files(`${root}tests`, "_test.ts")) {
    for (const id of idsInTestNames(await Deno.readTextFile(path))) tested.add(id);
  }
  const missing = [...cited].filter(([id]) => !tested.has(id)).map(([id, file]) => `${id} (${file})`);
  assert.deepEqual(missing, [], `ids cited in src/ but named by no test:\n${missing.join("\n")}`);
});
