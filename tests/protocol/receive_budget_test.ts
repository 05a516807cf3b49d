import assert from "node:assert/strict";
import { ReceiveBudget } from "../../src/protocol/receive_budget.ts";

Deno.test("a receive budget reserves up to its limit and no further, all or nothing", () => {
  const budget = new ReceiveBudget(100);
  assert.ok(budget.reserve(60));
  assert.ok(!budget.reserve(41), "41 more would pass the limit");
  assert.equal(budget.used, 60, "a refused reservation takes nothing");
  assert.ok(budget.reserve(40));
  budget.release(100);
  assert.equal(budget.used, 0);
});

Deno.test("a lowered limit refuses new reservations and keeps the ones made", () => {
  const budget = new ReceiveBudget(100);
  assert.ok(budget.reserve(80));
  budget.limit = 50;
  assert.ok(!budget.reserve(1));
  budget.release(80);
  assert.ok(budget.reserve(50));
});

Deno.test("giving back more than was reserved is a programmer error", () => {
  const budget = new ReceiveBudget(10);
  assert.throws(() => budget.release(1), RangeError);
  assert.throws(() => new ReceiveBudget(-1), RangeError);
});
