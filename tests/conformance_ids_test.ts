/**
 * Every specification statement id cited in src/ must be named by at least one
 * test, so a cited rule is never left unchecked, and docs/conformance.md must
 * list them all.
 */
import assert from "node:assert/strict";
import {
  differenceText,
  findCitations,
  renderDifferenceList,
  renderTable,
  tableRows,
} from "./_helpers/conformance.ts";

const root = new URL("..", import.meta.url).pathname;

Deno.test("every statement id cited in src/ is named by a test", async () => {
  const { cited, tested } = await findCitations(root);
  const missing = [...cited].filter(([id]) => !tested.has(id)).map(([id, files]) =>
    `${id} (${[...files][0]})`
  );
  assert.deepEqual(missing, [], `ids cited in src/ but named by no test:\n${missing.join("\n")}`);
});

Deno.test("docs/conformance.md lists every cited statement with its tests (deno task conformance refreshes it)", async () => {
  const doc = await Deno.readTextFile(`${root}docs/conformance.md`);
  const expected = tableRows(renderTable(await findCitations(root)));
  assert.deepEqual(
    tableRows(doc),
    expected,
    "docs/conformance.md is out of date: run `deno task conformance`",
  );
});

Deno.test("docs/conformance.md lists every difference from Mosquitto the differential scenarios allow (deno task conformance refreshes it)", async () => {
  const doc = await Deno.readTextFile(`${root}docs/conformance.md`);
  assert.deepEqual(
    differenceText(doc),
    differenceText(renderDifferenceList()),
    "docs/conformance.md is out of date: run `deno task conformance`",
  );
});
