import assert from "node:assert/strict";
import { FailedAuthLimiter, hostOf } from "../../src/auth/rate_limit.ts";

Deno.test("failed attempts block an address after the limit, for the block time", () => {
  let now = 0;
  const limiter = new FailedAuthLimiter({ maxFailures: 3, windowMs: 1000, blockMs: 5000, now: () => now });
  for (let i = 0; i < 2; i++) limiter.fail("10.0.0.1:1000");
  assert.equal(limiter.blocked("10.0.0.1:2000"), false);
  limiter.fail("10.0.0.1:3000");
  assert.equal(limiter.blocked("10.0.0.1:4000"), true, "the port does not matter");
  assert.equal(limiter.blocked("10.0.0.2:1"), false);
  now = 5001;
  assert.equal(limiter.blocked("10.0.0.1:1"), false);
});

Deno.test("failures outside the window do not count; a success clears them", () => {
  let now = 0;
  const limiter = new FailedAuthLimiter({ maxFailures: 2, windowMs: 1000, now: () => now });
  limiter.fail("h:1");
  now = 2000;
  limiter.fail("h:1");
  assert.equal(limiter.blocked("h:1"), false);
  limiter.succeed("h:1");
  assert.equal(limiter.tracked, 0);
});

Deno.test("the number of tracked addresses is bounded", () => {
  const limiter = new FailedAuthLimiter({ maxAddresses: 100 });
  for (let i = 0; i < 1000; i++) limiter.fail(`10.0.${i >> 8}.${i & 255}:1`);
  assert.equal(limiter.tracked, 100);
});

Deno.test("host parts of addresses", () => {
  assert.equal(hostOf("127.0.0.1:5000"), "127.0.0.1");
  assert.equal(hostOf("[::1]:5000"), "::1");
  assert.equal(hostOf("::1"), "::1");
});
