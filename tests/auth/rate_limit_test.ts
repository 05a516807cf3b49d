import assert from "node:assert/strict";
import { FailedAuthLimiter, hostOf } from "../../src/auth/rate_limit.ts";

Deno.test("failed attempts block one user name from one address after the limit, for the block time", () => {
  let now = 0;
  const limiter = new FailedAuthLimiter({ maxFailures: 3, windowMs: 1000, blockMs: 5000, now: () => now });
  for (let i = 0; i < 2; i++) limiter.fail("10.0.0.1:1000", "alice");
  assert.equal(limiter.blocked("10.0.0.1:2000", "alice"), false);
  limiter.fail("10.0.0.1:3000", "alice");
  assert.equal(limiter.blocked("10.0.0.1:4000", "alice"), true, "the port does not matter");
  assert.equal(limiter.blocked("10.0.0.2:1", "alice"), false, "another address");
  assert.equal(limiter.blocked("10.0.0.1:1", "bob"), false, "another user behind the same address");
  now = 5001;
  assert.equal(limiter.blocked("10.0.0.1:1", "alice"), false);
});

Deno.test("failures outside the window do not count; a success clears that user's record only", () => {
  let now = 0;
  const limiter = new FailedAuthLimiter({ maxFailures: 2, windowMs: 1000, now: () => now });
  limiter.fail("h:1", "alice");
  now = 2000;
  limiter.fail("h:1", "alice");
  assert.equal(limiter.blocked("h:1", "alice"), false);
  limiter.fail("h:1", "bob");
  limiter.succeed("h:1", "mallory");
  assert.equal(limiter.tracked, 2, "mallory's own success leaves alice's and bob's failures");
  limiter.fail("h:1", "bob");
  assert.equal(limiter.blocked("h:1", "bob"), true);
  limiter.succeed("h:1", "alice");
  assert.equal(limiter.tracked, 1);
});

Deno.test("the number of tracked (address, user) pairs is bounded", () => {
  const limiter = new FailedAuthLimiter({ maxEntries: 100 });
  for (let i = 0; i < 1000; i++) limiter.fail(`10.0.${i >> 8}.${i & 255}:1`, `u${i % 7}`);
  assert.equal(limiter.tracked, 100);
});

Deno.test("host parts of addresses", () => {
  assert.equal(hostOf("127.0.0.1:5000"), "127.0.0.1");
  assert.equal(hostOf("[::1]:5000"), "::1");
  assert.equal(hostOf("::1"), "::1");
});
