import assert from "node:assert/strict";
import { GroupCommitter } from "../../src/persistence/group_commit.ts";

/** A writer that fails any write containing "poison", recording what it wrote. */
function writer(retryAlone?: (err: unknown) => boolean) {
  const written: string[][] = [];
  const committer = new GroupCommitter<string>((items) => {
    if (items.includes("poison")) return Promise.reject(new Error("cannot store poison"));
    written.push([...items]);
    return Promise.resolve();
  }, { windowMs: 0, maxItems: 500, retryAlone });
  return { committer, written };
}

Deno.test("commits submitted in one turn are written together", async () => {
  const { committer, written } = writer();
  await Promise.all([committer.submit(["a"]), committer.submit(["b"]), committer.submit(["c"])]);
  assert.deepEqual(written, [["a", "b", "c"]]);
});

Deno.test("one commit that cannot be written fails alone: the others of its group are written, in order", async () => {
  const { committer, written } = writer(() => true);
  const results = await Promise.allSettled([
    committer.submit(["a"]),
    committer.submit(["poison", "x"]),
    committer.submit(["b"]),
  ]);
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
  assert.deepEqual(written, [["a"], ["b"]]);
});

Deno.test("without retryAlone (a failure that may have applied part of the group) every commit of the group fails", async () => {
  const { committer, written } = writer(() => false);
  const results = await Promise.allSettled([committer.submit(["a"]), committer.submit(["poison"])]);
  assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
  assert.deepEqual(written, []);
  // And the next group goes on.
  await committer.submit(["c"]);
  assert.deepEqual(written, [["c"]]);
});
