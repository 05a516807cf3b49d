import assert from "node:assert/strict";
import { SHARED_PAYLOAD_MIN } from "../../src/protocol/publish.ts";
import { BatchWriter, pooledChunkLists } from "../../src/transport/batch_writer.ts";

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

/** A PUBLISH head of three bytes whose packet id (at 1) the writer patches. */
const HEAD = new Uint8Array([0x32, 0x00, 0x00]);

Deno.test("a large payload is written from the message itself by every writer, each with its own head", async () => {
  const payload = new Uint8Array(SHARED_PAYLOAD_MIN).fill(7);
  const writes: Uint8Array[][] = [[], []];
  const seen: Uint8Array[][] = [[], []];
  const sinks = [0, 1].map((i) =>
    new BatchWriter((b) => {
      seen[i].push(b);
      writes[i].push(b.slice());
      return Promise.resolve(b.length);
    })
  );
  for (const [i, w] of sinks.entries()) {
    w.write(new Uint8Array([0xd0, 0x00])); // a small packet before...
    w.writePublish({ head: HEAD, headLength: 3, packetIdOffset: 1, payload }, i + 1);
    w.write(new Uint8Array([0xb0, 0x02, 0x00, 0x09])); // ...and after
  }
  for (let i = 0; i < 5 && sinks.some((w) => w.bufferedBytes > 0); i++) await tick();
  for (const i of [0, 1]) {
    // The small packet and the head coalesced, the payload as it is, then the next packet.
    assert.deepEqual(writes[i].map((b) => b.length), [5, SHARED_PAYLOAD_MIN, 4]);
    assert.deepEqual([...writes[i][0]], [0xd0, 0x00, 0x32, 0x00, i + 1]);
    assert.equal(seen[i][1].buffer, payload.buffer, "the payload is not copied");
    assert.deepEqual([...writes[i][2]], [0xb0, 0x02, 0x00, 0x09]);
  }
});

Deno.test("a payload below SHARED_PAYLOAD_MIN is copied, together with its head and the packets after it", async () => {
  const views: Uint8Array[] = [];
  const received: number[] = [];
  const w = new BatchWriter((b) => (views.push(b), received.push(...b), Promise.resolve(b.length)));
  const payload = new Uint8Array(SHARED_PAYLOAD_MIN - 1).fill(3);
  w.writePublish({ head: HEAD, headLength: 3, packetIdOffset: 1, payload }, 1);
  w.write(new Uint8Array([0xd0, 0x00]));
  await tick();
  assert.ok(views.every((b) => b.buffer !== payload.buffer), "written from the writer's own chunks");
  assert.deepEqual(received, [0x32, 0x00, 0x01, ...payload, 0xd0, 0x00]);
});

Deno.test("shared payloads cut by partial writes arrive whole, in order with the packets around them", async () => {
  const received: number[] = [];
  const w = new BatchWriter((b) => {
    const n = Math.min(b.length, 1000); // the sink takes at most 1000 bytes per call
    received.push(...b.subarray(0, n));
    return Promise.resolve(n);
  });
  const first = new Uint8Array(10_000).map((_, i) => i % 251);
  const second = new Uint8Array(5_000).map((_, i) => (i * 7) % 253);
  w.writePublish({ head: HEAD, headLength: 3, packetIdOffset: 1, payload: first }, 0x0102);
  w.write(new Uint8Array([0xd0, 0x00]));
  w.writePublish({ head: HEAD, headLength: 3, packetIdOffset: 1, payload: second }, 0x0304);
  assert.equal(w.bufferedBytes, 3 + 10_000 + 2 + 3 + 5_000, "shared payloads count as buffered");
  for (let i = 0; i < 100 && w.bufferedBytes > 0; i++) await tick();
  const expected = [0x32, 0x01, 0x02, ...first, 0xd0, 0x00, 0x32, 0x03, 0x04, ...second];
  assert.equal(received.length, expected.length);
  assert.ok(received.every((b, i) => b === expected[i]), "every byte in order");
});

Deno.test("a written shared payload is never lent out as a write chunk, even one of a chunk's size", async () => {
  const held = new Uint8Array(256 * 1024).fill(9); // exactly the size of the large write chunks
  const w = new BatchWriter((b) => Promise.resolve(b.length));
  w.writePublish({ head: HEAD, headLength: 3, packetIdOffset: 1, payload: held }, 1);
  for (let i = 0; i < 5 && w.bufferedBytes > 0; i++) await tick();
  // Other writers then fill many large chunks from the pools.
  const others = Array.from({ length: 40 }, () => new BatchWriter((b) => Promise.resolve(b.length)));
  for (const o of others) o.write(new Uint8Array(300 * 1024).fill(1));
  for (let i = 0; i < 5 && others.some((o) => o.bufferedBytes > 0); i++) await tick();
  assert.ok(held.every((b) => b === 9), "the message's payload is untouched");
});

Deno.test("a writer holds a chunk list only while it has bytes to write: an idle one gives it back for the next", async () => {
  const sink = (b: Uint8Array) => Promise.resolve(b.length);
  const first = new BatchWriter(sink);
  first.write(new Uint8Array([1, 2, 3]));
  await tick();
  assert.equal(first.bufferedBytes, 0);
  const pooled = pooledChunkLists();
  assert.ok(pooled >= 1, "the written list is back in the pool");
  const second = new BatchWriter(sink);
  second.write(new Uint8Array([4]));
  assert.equal(pooledChunkLists(), pooled - 1, "the next writer takes it instead of making one");
  await tick();
  assert.equal(pooledChunkLists(), pooled);
  first.close();
  second.close();
});
