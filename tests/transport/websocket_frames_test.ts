import assert from "node:assert/strict";
import {
  closeFrame,
  FrameDecoder,
  frameHeader,
  Opcode,
  WebSocketError,
  type WebSocketEvent,
} from "../../src/transport/websocket_frames.ts";
import { clientFrame } from "../_helpers/websocket_bytes.ts";

const MASK = [0x37, 0xfa, 0x21, 0x3d];

/** A masked client frame, as a browser sends it (a mask that changes the bytes). */
const maskedFrame = (first: number, payload: number[]) => clientFrame(first, payload, MASK);

/** Decodes `bytes` fed in pieces cut at `cuts`, each piece a fresh buffer. */
function decodeInPieces(bytes: Uint8Array, cuts: number[]): WebSocketEvent[] {
  const decoder = new FrameDecoder();
  const events: WebSocketEvent[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    events.push(...decoder.push(bytes.slice(from, cut)));
    from = cut;
  }
  return events;
}

/** The data bytes of the events, joined, and the other events by kind. */
function summary(events: WebSocketEvent[]): { data: number[]; other: string[] } {
  const data: number[] = [];
  const other: string[] = [];
  for (const e of events) {
    if (e.kind === "data") data.push(...e.bytes);
    else other.push(e.kind === "close" ? `close ${e.code}` : e.kind);
  }
  return { data, other };
}

const PINGREQ_PINGREQ = [0xc0, 0x00, 0xc0, 0x00];

Deno.test("a masked binary frame gives its unmasked payload, however the bytes are cut", () => {
  const frame = maskedFrame(0x82, PINGREQ_PINGREQ); // FIN + binary, 4 bytes
  for (let a = 0; a <= frame.length; a++) {
    for (let b = a; b <= frame.length; b++) {
      assert.deepEqual(
        summary(decodeInPieces(frame, [a, b])),
        { data: PINGREQ_PINGREQ, other: [] },
        `cut ${a},${b}`,
      );
    }
  }
});

Deno.test("16-bit and 64-bit lengths are read, and a large frame streams as its bytes arrive", () => {
  const medium = Array.from({ length: 300 }, (_, i) => i & 0xff);
  assert.deepEqual(summary(decodeInPieces(maskedFrame(0x82, medium), [3, 7, 100])).data, medium);
  const large = Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff);
  const frame = maskedFrame(0x82, large);
  const decoder = new FrameDecoder();
  const first = decoder.push(frame.slice(0, 1000));
  // Payload is handed on before the frame is complete: nothing waits for the remaining 69 KB.
  assert.equal(summary(first).data.length, 1000 - 14);
  const rest = decoder.push(frame.slice(1000));
  assert.deepEqual([...summary(first).data, ...summary(rest).data], large);
});

Deno.test("a fragmented binary message passes through fragment by fragment, with a ping in between", () => {
  const bytes = Uint8Array.from([
    ...maskedFrame(0x02, [0x10, 0x0d]), // binary, not final
    ...maskedFrame(0x89, [0x68, 0x69]), // ping "hi", between fragments
    ...maskedFrame(0x00, [0x00, 0x04]), // continuation, not final
    ...maskedFrame(0x80, [0x4d]), // continuation, final
  ]);
  const events = decodeInPieces(bytes, [5]);
  assert.deepEqual(summary(events), { data: [0x10, 0x0d, 0x00, 0x04, 0x4d], other: ["ping"] });
  const ping = events.find((e) => e.kind === "ping") as { payload: Uint8Array };
  assert.deepEqual([...ping.payload], [0x68, 0x69]);
});

Deno.test("a text frame is reported as soon as its header arrives [MQTT-6.0.0-1]", () => {
  const frame = maskedFrame(0x81, [0x68, 0x69]);
  assert.deepEqual(new FrameDecoder().push(frame.slice(0, 6)).map((e) => e.kind), ["text"]);
});

Deno.test("a close frame gives its code (1005 when empty) and ends decoding", () => {
  const decoder = new FrameDecoder();
  const events = decoder.push(
    Uint8Array.from([...maskedFrame(0x88, [0x03, 0xe8]), ...maskedFrame(0x82, [1])]),
  );
  assert.deepEqual(summary(events), { data: [], other: ["close 1000"] });
  assert.deepEqual(summary(new FrameDecoder().push(maskedFrame(0x88, []))).other, ["close 1005"]);
});

Deno.test("framing violations are errors with the close code to send", () => {
  const cases: [string, Uint8Array, number][] = [
    ["unmasked frame", Uint8Array.of(0x82, 0x01, 0x00), 1002],
    ["RSV1 set (no extension was negotiated)", maskedFrame(0xc2, [0]), 1002],
    ["continuation without a message", maskedFrame(0x80, [0]), 1002],
    [
      "a new message inside a fragmented one",
      Uint8Array.from([...maskedFrame(0x02, [0]), ...maskedFrame(0x82, [0])]),
      1002,
    ],
    ["fragmented ping", maskedFrame(0x09, []), 1002],
    ["control payload over 125 bytes", maskedFrame(0x89, new Array(126).fill(0)), 1002],
    ["unknown opcode 3", maskedFrame(0x83, []), 1002],
    ["unknown control opcode 0xb", maskedFrame(0x8b, []), 1002],
    ["one-byte close payload", maskedFrame(0x88, [3]), 1002],
    [
      "64-bit length beyond 2^53",
      Uint8Array.of(0x82, 0xff, 0x00, 0x40, 0, 0, 0, 0, 0, 0, ...MASK),
      1009,
    ],
  ];
  for (const [what, bytes, code] of cases) {
    assert.throws(
      () => new FrameDecoder().push(bytes.slice()),
      (err) => err instanceof WebSocketError && err.closeCode === code,
      what,
    );
  }
});

Deno.test("server frames are unmasked, final, and use the shortest length form", () => {
  assert.deepEqual([...frameHeader(Opcode.Binary, 4)], [0x82, 4]);
  assert.deepEqual([...frameHeader(Opcode.Binary, 126)], [0x82, 126, 0, 126]);
  assert.deepEqual([...frameHeader(Opcode.Binary, 65_536)], [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
  assert.deepEqual([...closeFrame(1000)], [0x88, 0x02, 0x03, 0xe8]);
});
