import assert from "node:assert/strict";
import { backoffDelay } from "../../src/bridge/backoff.ts";

const bounds = { minMs: 100, maxMs: 1000 };

Deno.test("the delay doubles per attempt up to the maximum", () => {
  const top = (attempt: number) => backoffDelay(attempt, bounds, () => 1);
  assert.deepEqual([0, 1, 2, 3, 4, 10, 100].map(top), [100, 200, 400, 800, 1000, 1000, 1000]);
});

Deno.test("jitter keeps the delay between half and all of the ceiling", () => {
  assert.equal(backoffDelay(2, bounds, () => 0), 200);
  assert.equal(backoffDelay(2, bounds, () => 0.5), 300);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(3, bounds);
    assert.ok(d >= 400 && d <= 800, `${d} out of range`);
  }
});
