import assert from "node:assert/strict";
import { RetainedIndex } from "../../src/broker/retained.ts";

const msg = (topic: string, size = 1) => ({ topic, payload: new Uint8Array(size) });
const topics = (index: RetainedIndex<{ topic: string }>, filter: string) =>
  index.match(filter).map((m) => m.topic).sort();

Deno.test("retained messages are found by walking the filter", () => {
  const index = new RetainedIndex<{ topic: string; payload: Uint8Array }>();
  for (const t of ["a", "a/b", "a/b/c", "a/c", "b/b", "$SYS/x", "/lead"]) index.set(msg(t));
  assert.deepEqual(topics(index, "a/#"), ["a", "a/b", "a/b/c", "a/c"]);
  assert.deepEqual(topics(index, "+/b"), ["a/b", "b/b"]);
  assert.deepEqual(topics(index, "#"), ["/lead", "a", "a/b", "a/b/c", "a/c", "b/b"]);
  assert.deepEqual(topics(index, "$SYS/#"), ["$SYS/x"]);
  assert.deepEqual(topics(index, "+/lead"), ["/lead"]);
  assert.deepEqual(topics(index, "a/b"), ["a/b"]);
});

Deno.test("replacing and deleting keep the count and the byte total right", () => {
  const index = new RetainedIndex<{ topic: string; payload: Uint8Array }>();
  index.set(msg("x", 10));
  index.set(msg("x", 4));
  index.set(msg("y/z", 6));
  assert.equal(index.size, 2);
  assert.equal(index.bytes, 10);
  assert.equal(index.delete("y/z"), true);
  assert.equal(index.delete("y/z"), false);
  assert.equal(index.bytes, 4);
  assert.deepEqual(topics(index, "#"), ["x"]);
});
