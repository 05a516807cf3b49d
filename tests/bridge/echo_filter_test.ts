import assert from "node:assert/strict";
import { EchoFilter } from "../../src/bridge/echo_filter.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("a message that comes back as it was sent is an echo, once per copy sent", () => {
  const filter = new EchoFilter();
  filter.sent("a/b", bytes("1"));
  filter.sent("a/b", bytes("1"));
  assert.equal(filter.isEcho("a/b", bytes("1")), true);
  assert.equal(filter.isEcho("a/b", bytes("1")), true);
  assert.equal(filter.isEcho("a/b", bytes("1")), false);
});

Deno.test("another topic or another payload is not an echo", () => {
  const filter = new EchoFilter();
  filter.sent("a/b", bytes("1"));
  assert.equal(filter.isEcho("a/c", bytes("1")), false);
  assert.equal(filter.isEcho("a/b", bytes("2")), false);
});

Deno.test("a copy older than the time to live is forgotten", () => {
  let now = 0;
  const filter = new EchoFilter({ ttlMs: 1000, now: () => now });
  filter.sent("a", bytes("x"));
  now = 1001;
  assert.equal(filter.isEcho("a", bytes("x")), false);
});

Deno.test("the filter holds at most its capacity, dropping the oldest", () => {
  const filter = new EchoFilter({ capacity: 2 });
  for (const t of ["1", "2", "3"]) filter.sent(t, bytes("x"));
  assert.equal(filter.isEcho("1", bytes("x")), false);
  assert.equal(filter.isEcho("3", bytes("x")), true);
});
