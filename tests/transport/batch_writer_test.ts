import assert from "node:assert/strict";
import { BatchWriter } from "../../src/transport/batch_writer.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("writes queued in one turn reach the sink as one write", async () => {
  const writes: number[][] = [];
  const w = new BatchWriter((b) => (writes.push([...b]), Promise.resolve(b.length)));
  for (let i = 0; i < 100; i++) w.write(new Uint8Array([i]));
  assert.equal(w.bufferedBytes, 100);
  await tick();
  assert.equal(writes.length, 1);
  assert.equal(writes[0].length, 100);
  assert.equal(w.bufferedBytes, 0);
});

Deno.test("partial writes are looped until everything is written", async () => {
  const received: number[] = [];
  const w = new BatchWriter((b) => {
    received.push(b[0]); // take one byte per call
    return Promise.resolve(1);
  });
  w.write(new Uint8Array([1, 2, 3, 4, 5]));
  for (let i = 0; i < 10; i++) await tick();
  assert.deepEqual(received, [1, 2, 3, 4, 5]);
});

Deno.test("writePublish patches the packet id into a copy and leaves the shared head alone", async () => {
  const writes: number[][] = [];
  const w = new BatchWriter((b) => (writes.push([...b]), Promise.resolve(b.length)));
  const head = new Uint8Array([0x32, 0x06, 0x00, 0x01, 0x74, 0x00, 0x00]);
  w.writePublish(
    { head, headLength: head.length, packetIdOffset: 5, payload: new Uint8Array([0xaa]) },
    0x1234,
  );
  w.writePublish({ head, headLength: head.length, packetIdOffset: 5, payload: new Uint8Array([0xbb]) }, 7);
  await tick();
  assert.deepEqual(writes[0], [
    0x32,
    0x06,
    0x00,
    0x01,
    0x74,
    0x12,
    0x34,
    0xaa,
    0x32,
    0x06,
    0x00,
    0x01,
    0x74,
    0x00,
    0x07,
    0xbb,
  ]);
  assert.deepEqual([...head], [0x32, 0x06, 0x00, 0x01, 0x74, 0x00, 0x00]);
});

Deno.test("writes made while the sink is busy are collected and sent next, in order", async () => {
  const writes: number[][] = [];
  let release!: () => void;
  const w = new BatchWriter((b) => {
    writes.push([...b]);
    return writes.length === 1 ? new Promise((r) => release = () => r(b.length)) : Promise.resolve(b.length);
  });
  w.write(new Uint8Array([1]));
  await tick();
  w.write(new Uint8Array([2]));
  w.write(new Uint8Array([3]));
  await tick();
  assert.equal(writes.length, 1, "second batch waits for the first write");
  assert.equal(w.bufferedBytes, 3);
  release();
  await tick();
  await tick();
  assert.deepEqual(writes, [[1], [2, 3]]);
});

Deno.test("close flushes first and then calls onClose once", async () => {
  const writes: number[][] = [];
  let closed = 0;
  const w = new BatchWriter((b) => (writes.push([...b]), Promise.resolve(b.length)), {
    onClose: () => closed++,
  });
  w.write(new Uint8Array([9]));
  w.close();
  w.close();
  await tick();
  await tick();
  assert.deepEqual(writes, [[9]]);
  assert.equal(closed, 1);
  w.write(new Uint8Array([1]));
  await tick();
  assert.equal(writes.length, 1, "nothing is written after close");
});

Deno.test("a failing sink closes the writer", async () => {
  let closed = false;
  let error: unknown;
  const w = new BatchWriter(() => Promise.reject(new Error("broken pipe")), {
    onClose: () => closed = true,
    onError: (e) => error = e,
  });
  w.write(new Uint8Array([1]));
  await tick();
  await tick();
  assert.equal(closed, true);
  assert.match(String(error), /broken pipe/);
});

Deno.test("a message larger than the write chunks arrives whole and in order, heads patched", async () => {
  const received: number[] = [];
  const w = new BatchWriter((b) => {
    const n = Math.min(b.length, 50_000); // and the sink takes at most 50 000 bytes per call
    received.push(...b.subarray(0, n));
    return Promise.resolve(n);
  });
  const payload = new Uint8Array(200_000).map((_, i) => i % 251);
  const head = new Uint8Array([0x32, 0x00, 0x00]);
  w.write(new Uint8Array([1, 2, 3]));
  w.writePublish({ head, headLength: 3, packetIdOffset: 1, payload }, 0x0102);
  w.writePublish({ head, headLength: 3, packetIdOffset: 1, payload: payload.subarray(0, 10) }, 0x0304);
  assert.equal(w.bufferedBytes, 3 + 3 + 200_000 + 3 + 10);
  for (let i = 0; i < 20 && w.bufferedBytes > 0; i++) await tick();
  assert.equal(received.length, 3 + 3 + 200_000 + 3 + 10);
  assert.deepEqual(received.slice(0, 6), [1, 2, 3, 0x32, 0x01, 0x02]);
  assert.ok(received.slice(6, 200_006).every((b, i) => b === i % 251), "payload bytes in order");
  assert.deepEqual(received.slice(200_006, 200_009), [0x32, 0x03, 0x04]);
});

Deno.test("many writers filled in one turn each write once, in the order they were filled", async () => {
  const order: number[] = [];
  const writers = [0, 1, 2].map((i) =>
    new BatchWriter((b) => {
      order.push(i);
      return Promise.resolve(b.length);
    })
  );
  for (const w of [writers[2], writers[0], writers[1], writers[2]]) w.write(new Uint8Array([1]));
  await tick();
  assert.deepEqual(order, [2, 0, 1]);
  assert.ok(writers.every((w) => w.bufferedBytes === 0));
});

Deno.test("a PUBLISH head is copied up to its head length: a reused head's buffer may hold more", async () => {
  const writes: number[][] = [];
  const w = new BatchWriter((b) => (writes.push([...b]), Promise.resolve(b.length)));
  const head = new Uint8Array([0x30, 0x04, 0x00, 0x01, 0x74, 0xee, 0xee, 0xee]);
  w.writePublish({ head, headLength: 5, packetIdOffset: -1, payload: new Uint8Array([0x61]) }, 0);
  await tick();
  assert.deepEqual(writes, [[0x30, 0x04, 0x00, 0x01, 0x74, 0x61]]);
});
