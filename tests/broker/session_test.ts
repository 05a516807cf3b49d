import assert from "node:assert/strict";
import { subscriptionKey, treeFilter } from "../../src/broker/session.ts";

Deno.test("a shared subscription is held in the topic tree under its filter without the share prefix", () => {
  assert.equal(treeFilter({ filter: "$share/g1/a/+/c", group: "g1" }), "a/+/c");
  assert.equal(treeFilter({ filter: subscriptionKey("#", "workers"), group: "workers" }), "#");
  assert.equal(treeFilter({ filter: "a/b" }), "a/b", "a non-shared one keeps its filter");
  assert.equal(treeFilter({ filter: "a/b", group: null }), "a/b", "as the admin API lists it (group null)");
});
