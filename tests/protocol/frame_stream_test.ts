import assert from "node:assert/strict";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { FrameSplitter, FrameStream } from "../../src/protocol/frame_stream.ts";
import { type Frame, Reason } from "../../src/protocol/packet.ts";

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
