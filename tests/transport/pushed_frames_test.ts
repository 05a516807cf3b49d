/** Tests of the push-mode framer that TLS and WebSocket connections read through. */
import assert from "node:assert/strict";
import { PushedFrames } from "../../src/transport/pushed_frames.ts";
import { ReceiveBudget } from "../../src/protocol/receive_budget.ts";

const PINGREQ = Uint8Array.of(0xc0, 0x00);

Deno.test("pushed chunks come out as one batch per chunk, in order, then null at the end", async () => {
  const source = new PushedFrames();
  source.push(Uint8Array.of(0xc0, 0x00, 0xc0)); // one PINGREQ and half of the next
  source.push(Uint8Array.of(0x00));
  source.end();
  assert.deepEqual((await source.next())!.map((f) => f.header), [0xc0]);
  assert.deepEqual((await source.next())!.map((f) => f.header), [0xc0]);
  assert.equal(await source.next(), null);
});

Deno.test("a reader waiting for frames is woken by the next push and by the end", async () => {
  const source = new PushedFrames();
  const waiting = source.next();
  source.push(PINGREQ);
  assert.equal((await waiting)!.length, 1);
  const ended = source.next();
  source.end();
  assert.equal(await ended, null);
});

Deno.test("a malformed chunk ends the source with the error after the batches already queued", async () => {
  const source = new PushedFrames({ maxPacketSize: 16 });
  source.push(PINGREQ);
  assert.equal(source.push(Uint8Array.of(0x30, 0x7f)), false, "127 bytes exceed the 16-byte maximum");
  assert.equal((await source.next())!.length, 1);
  await assert.rejects(() => source.next(), /exceeds the maximum/);
});

Deno.test("the transport is told to pause at four queued batches and to resume when there is room", async () => {
  let wanted = 0;
  const source = new PushedFrames(undefined, () => wanted++);
  for (let i = 0; i < 4; i++) source.push(PINGREQ);
  assert.equal(source.wantsMore, false);
  await source.next();
  assert.equal(source.wantsMore, true);
  assert.equal(wanted, 1, "room again after the queue dropped below four");
  for (let i = 0; i < 3; i++) await source.next();
  const waiting = source.next();
  assert.equal(wanted, 2, "an empty queue asks for more");
  source.push(PINGREQ);
  await waiting;
});

Deno.test("a packet cut off by the end of the source gives its bytes back to the receive budget", async () => {
  const budget = new ReceiveBudget(1024 * 1024);
  const source = new PushedFrames({ budget });
  source.push(Uint8Array.of(0x30, 0xa0, 0x8d, 0x06)); // PUBLISH declaring 100 000 bytes
  source.push(new Uint8Array(70_000));
  assert.ok(budget.used >= 70_000);
  source.end();
  assert.equal(budget.used, 0);
  assert.equal(await source.next(), null);
});
