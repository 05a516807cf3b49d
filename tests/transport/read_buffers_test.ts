import assert from "node:assert/strict";
import {
  borrowReadBuffer,
  MAX_READ,
  MIN_READ,
  nextReadSize,
  pooledReadBytes,
  returnReadBuffer,
} from "../../src/transport/read_buffers.ts";

Deno.test("read buffers: a full read doubles the next one, up to MAX_READ", () => {
  assert.equal(nextReadSize(MIN_READ, MIN_READ), MIN_READ * 2);
  assert.equal(nextReadSize(4096, 4096), 8192);
  assert.equal(nextReadSize(MAX_READ, MAX_READ), MAX_READ);
});

Deno.test("read buffers: after a partial read the next one has room for twice what came", () => {
  assert.equal(nextReadSize(1000, 4096), 2048);
  assert.equal(nextReadSize(3000, 4096), 8192);
  assert.equal(nextReadSize(200_000, MAX_READ), MAX_READ);
});

Deno.test("read buffers: a connection that went quiet waits on its own small buffer at once", () => {
  assert.equal(nextReadSize(2, MAX_READ), MIN_READ);
  assert.equal(nextReadSize(MIN_READ / 2, 8192), MIN_READ);
});

Deno.test("read buffers: a returned buffer is lent again, and the pool keeps a bounded number", () => {
  const before = pooledReadBytes();
  const a = borrowReadBuffer(MIN_READ * 2);
  assert.equal(a.length, MIN_READ * 2);
  returnReadBuffer(a);
  assert.equal(pooledReadBytes(), before + a.length);
  assert.equal(borrowReadBuffer(MIN_READ * 2), a, "the free buffer is reused");
  // Returning many more than the pool keeps: the rest is left to the collector.
  const many = Array.from({ length: 64 }, () => borrowReadBuffer(MAX_READ));
  for (const b of many) returnReadBuffer(b);
  assert.ok(
    pooledReadBytes() - before <= 4 * 1024 * 1024 + MIN_READ * 2,
    "at most 4 MiB of one size is kept",
  );
  for (let i = 0; i < 64; i++) borrowReadBuffer(MAX_READ); // leave the pool as it was
});
