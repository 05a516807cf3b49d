/** Tests of the single keep-alive sweep that replaces a timer per connection. */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/broker/clock.ts";
import { KeepAliveSweeper, SWEEP_INTERVAL_MS } from "../../src/broker/keep_alive.ts";

function client(clock: ManualClock, keepAliveS: number) {
  const c = {
    lastActivity: clock.now(),
    silenceLimitMs: keepAliveS * 1500,
    expiredAt: -1,
    keepAliveExpired() {
      c.expiredAt = clock.now();
    },
  };
  return c;
}

Deno.test("the sweep closes a client silent for 1.5 × keep-alive, within one sweep interval [MQTT-3.1.2-24]", () => {
  const clock = new ManualClock();
  const sweeper = new KeepAliveSweeper(clock);
  const start = clock.now();
  const silent = client(clock, 10);
  const chatty = client(clock, 10);
  sweeper.watch(silent);
  sweeper.watch(chatty);
  for (let t = 0; t < 30_000; t += 1000) {
    clock.advance(1000);
    chatty.lastActivity = clock.now();
  }
  const after = silent.expiredAt - start;
  assert.ok(after >= 15_000 && after <= 15_000 + SWEEP_INTERVAL_MS, `closed after ${after} ms`);
  assert.equal(chatty.expiredAt, -1, "a client that keeps talking is never closed");
  sweeper.stop();
});

Deno.test("the sweep stops when no connection is watched, so it never keeps a process alive", () => {
  const clock = new ManualClock();
  const sweeper = new KeepAliveSweeper(clock);
  const c = client(clock, 1);
  sweeper.watch(c);
  assert.equal(clock.pendingTimers, 1);
  sweeper.unwatch(c);
  clock.advance(SWEEP_INTERVAL_MS);
  assert.equal(clock.pendingTimers, 0);
  assert.equal(c.expiredAt, -1);
});
