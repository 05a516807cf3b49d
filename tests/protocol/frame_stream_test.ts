import assert from "node:assert/strict";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { FrameSplitter, FrameStream } from "../../src/protocol/frame_stream.ts";
import { type Frame, Reason } from "../../src/protocol/packet.ts";
import { ReceiveBudget } from "../../src/protocol/receive_budget.ts";
import { varintSize, writeVarint } from "../../src/protocol/writer.ts";

const ping = [0xc0, 0x00];
const publish = [0x30, 0x05, 0x00, 0x01, 0x74, 0x68, 0x69]; // PUBLISH "t" payload "hi"

Deno.test("several frames in one chunk come out as one batch of views", () => {
  const chunk = new Uint8Array([...publish, ...ping, ...publish]);
  const frames = new FrameSplitter().push(chunk);
  assert.equal(frames.length, 3);
  assert.equal(frames[0].header, 0x30);
  assert.equal(frames[1].header, 0xc0);
  assert.equal(frames[0].body.buffer, chunk.buffer, "a view, not a copy");
});

Deno.test("short input is never an error: a frame split anywhere completes later", () => {
  const bytes = [...publish, ...ping];
  for (let cut = 0; cut <= bytes.length; cut++) {
    const splitter = new FrameSplitter();
    const frames: Frame[] = [
      ...splitter.push(new Uint8Array(bytes.slice(0, cut))),
      ...splitter.push(new Uint8Array(bytes.slice(cut))),
    ];
    assert.deepEqual(frames.map((f) => f.header), [0x30, 0xc0], `cut at ${cut}`);
    assert.deepEqual([...frames[0].body], publish.slice(2));
  }
});

Deno.test("a remaining length with a fifth byte is malformed [MQTT-1.5.5-1]", () => {
  assert.throws(
    () => new FrameSplitter().push(new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])),
    (e: unknown) => e instanceof ProtocolError && e.reasonCode === Reason.MalformedPacket,
  );
  const splitter = new FrameSplitter();
  splitter.push(new Uint8Array([0x30, 0xff, 0xff]));
  assert.throws(() => splitter.push(new Uint8Array([0xff, 0xff, 0x01])), ProtocolError);
});

Deno.test("a packet over the maximum size is refused with 0x95 before its body arrives", () => {
  const splitter = new FrameSplitter({ maxPacketSize: 100 });
  // PUBLISH announcing 1000 bytes: rejected from the header alone.
  assert.throws(
    () => splitter.push(new Uint8Array([0x30, 0xe8, 0x07])),
    (e: unknown) => e instanceof ProtocolError && e.reasonCode === Reason.PacketTooLarge,
  );
  assert.equal(splitter.pendingBytes, 0);
});

Deno.test("an idle splitter holds no buffered bytes", () => {
  const splitter = new FrameSplitter();
  splitter.push(new Uint8Array([...publish.slice(0, 4)]));
  assert.ok(splitter.pendingBytes > 0);
  splitter.push(new Uint8Array(publish.slice(4)));
  assert.equal(splitter.pendingBytes, 0);
});

Deno.test("FrameStream emits one batch per chunk that completes frames", async () => {
  const input = ReadableStream.from([
    new Uint8Array([...ping, ...ping, ...publish.slice(0, 3)]),
    new Uint8Array(publish.slice(3)),
    new Uint8Array([0xc0]),
  ]);
  const batches: number[] = [];
  for await (const batch of input.pipeThrough(new FrameStream())) batches.push(batch.length);
  assert.deepEqual(batches, [2, 1]);
});

/** A fixed header (type byte + remaining length) for a body of `length` bytes. */
function header(type: number, length: number): Uint8Array {
  const out = new Uint8Array(1 + varintSize(length));
  out[0] = type;
  writeVarint(out, 1, length);
  return out;
}

const MiB = 1024 * 1024;

function reasonOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ProtocolError, String(err));
    return err.reasonCode;
  }
  return undefined;
}

Deno.test("a large declared packet holds only the bytes that arrived, not its declared length", () => {
  const splitter = new FrameSplitter();
  // PUBLISH declaring 200 MB; 1 MiB of it arrives.
  assert.deepEqual(splitter.push(header(0x30, 200_000_000)), []);
  assert.equal(splitter.pendingBytes, 0, "nothing is allocated for the header alone");
  splitter.push(new Uint8Array(MiB));
  assert.ok(
    splitter.pendingBytes >= MiB && splitter.pendingBytes < MiB + 128 * 1024,
    `${splitter.pendingBytes}`,
  );
  splitter.discard();
  assert.equal(splitter.pendingBytes, 0);
});

Deno.test("a large packet assembled from chunks cut anywhere is the packet that was sent", () => {
  const body = new Uint8Array(300_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
  const bytes = new Uint8Array([...header(0x30, body.length), ...body, ...ping]);
  for (
    const cut of [1, 2, 3, 4, 5, 1000, 65_536, 65_540, 131_072, 250_000, bytes.length - 3, bytes.length - 1]
  ) {
    for (const step of [cut, 70_001]) {
      const splitter = new FrameSplitter();
      const frames: Frame[] = [];
      frames.push(...splitter.push(bytes.slice(0, cut)));
      for (let at = cut; at < bytes.length; at += step) {
        frames.push(...splitter.push(bytes.slice(at, at + step)));
      }
      assert.deepEqual(frames.map((f) => f.header), [0x30, 0xc0], `cut ${cut} step ${step}`);
      assert.deepEqual(frames[0].body, body, `cut ${cut} step ${step}`);
      assert.equal(splitter.pendingBytes, 0);
    }
  }
});

Deno.test("the first packet (CONNECT) has its own, smaller limit, refused with 0x95 from its header", () => {
  const splitter = new FrameSplitter({ maxPacketSize: 10_000, maxFirstPacketSize: 100 });
  // A CONNECT claiming 200 MB: refused before a byte of its body is held.
  assert.equal(reasonOf(() => splitter.push(header(0x10, 200_000_000))), Reason.PacketTooLarge);
  const next = new FrameSplitter({ maxPacketSize: 10_000, maxFirstPacketSize: 100 });
  assert.equal(reasonOf(() => next.push(header(0x10, 98))), undefined, "a CONNECT of exactly 100 bytes");
  assert.equal(next.push(new Uint8Array(98)).length, 1);
  // Once the first packet is through, the general limit applies.
  assert.equal(reasonOf(() => next.push(header(0x30, 5000))), undefined);
  assert.equal(
    reasonOf(() => new FrameSplitter({ maxFirstPacketSize: 100 }).push(header(0x10, 98))),
    undefined,
  );
});

Deno.test("splitters sharing a budget: the one whose bytes do not fit fails with 0x89 Server busy", () => {
  const budget = new ReceiveBudget(3 * MiB);
  const a = new FrameSplitter({ budget });
  const b = new FrameSplitter({ budget });
  a.push(header(0x30, 2.5 * MiB));
  a.push(new Uint8Array(2 * MiB));
  b.push(header(0x30, 2.5 * MiB));
  assert.equal(reasonOf(() => b.push(new Uint8Array(2 * MiB))), Reason.ServerBusy);
  assert.equal(b.pendingBytes, 0, "the refused packet holds nothing");
  assert.equal(budget.used, 2 * MiB, "and gave back what it had reserved");
  a.discard();
  assert.equal(budget.used, 0, "a discarded packet gives its bytes back");
});

Deno.test("a complete packet gives its reservation back: the engine owns it now", () => {
  const budget = new ReceiveBudget(MiB);
  const splitter = new FrameSplitter({ budget });
  splitter.push(header(0x30, 100_000));
  splitter.push(new Uint8Array(70_000));
  assert.ok(budget.used >= 70_000 && budget.used <= 100_000, `${budget.used}`);
  assert.equal(splitter.push(new Uint8Array(30_000)).length, 1);
  assert.equal(budget.used, 0);
  // Small packets cut by a chunk boundary are reserved too, and given back.
  splitter.push(new Uint8Array(publish.slice(0, 3)));
  assert.equal(budget.used, publish.length - 2);
  splitter.push(new Uint8Array(publish.slice(3)));
  assert.equal(budget.used, 0);
});

Deno.test("a packet larger than the whole budget is too large (0x95), not a busy server", () => {
  const splitter = new FrameSplitter({ budget: new ReceiveBudget(MiB) });
  assert.equal(reasonOf(() => splitter.push(header(0x30, 2 * MiB))), Reason.PacketTooLarge);
});

Deno.test("a malformed chunk drops the partial packet and its reservation", () => {
  const budget = new ReceiveBudget(MiB);
  const splitter = new FrameSplitter({ budget });
  splitter.push(new Uint8Array([0x30, 0xff, 0xff])); // a header cut after 3 bytes...
  assert.throws(() => splitter.push(new Uint8Array([0xff, 0xff, 0x01])), ProtocolError); // ...then a fifth byte
  assert.equal(budget.used, 0);
  assert.equal(splitter.pendingBytes, 0);
});

Deno.test("FrameStream gives a cut-off packet back when its input ends", async () => {
  const budget = new ReceiveBudget(MiB);
  const input = ReadableStream.from([new Uint8Array([...header(0x30, 100_000), ...new Uint8Array(1000)])]);
  for await (const _ of input.pipeThrough(new FrameStream({ budget }))) assert.fail("no complete frame");
  assert.equal(budget.used, 0);
});

Deno.test("frames point into the chunk they came from, up to the length pushed, without a view until one is asked for", () => {
  const buffer = new Uint8Array(64);
  buffer.set([...publish, ...ping, 0x30, 0x7f]); // a third packet whose declared body lies past the 9 bytes pushed
  const frames = new FrameSplitter().push(buffer, publish.length + ping.length);
  assert.equal(frames.length, 2);
  assert.equal(frames[0].bytes, buffer);
  assert.deepEqual([frames[0].start, frames[0].end], [2, publish.length]);
  assert.deepEqual([...frames[0].body], publish.slice(2));
  assert.equal(frames[1].start, frames[1].end, "PINGREQ has an empty body");
});

Deno.test("a recycled batch and its frames are reused by the next push; a batch not given back stays as it was", () => {
  const splitter = new FrameSplitter();
  const first = splitter.push(new Uint8Array([...publish, ...ping]));
  const kept = first.map((f) => f.header);
  const second = splitter.push(new Uint8Array(ping));
  assert.notEqual(second, first);
  assert.deepEqual(first.map((f) => f.header), kept, "not recycled: untouched by later pushes");
  splitter.recycle();
  const third = new FrameSplitter().push(new Uint8Array(publish));
  assert.equal(third, second, "the recycled array is handed out again, by any splitter");
  assert.equal(third[0], second[0]);
  assert.equal(third[0].header, 0x30);
  assert.deepEqual([...third[0].body], publish.slice(2), "a reused frame makes a view of its new body");
});

Deno.test("a recycled frame lets go of the buffer it pointed into", () => {
  const splitter = new FrameSplitter();
  const chunk = new Uint8Array(publish);
  const [frame] = splitter.push(chunk);
  splitter.recycle();
  assert.notEqual(frame.bytes, chunk);
  assert.equal(frame.bytes.length, 0);
});
