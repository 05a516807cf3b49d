/**
 * Random and mutated byte streams never crash the decoder: every failure is a
 * ProtocolError, and nothing larger than the maximum packet size is buffered.
 */
import assert from "node:assert/strict";
import { decodePacket, encodePacket } from "../../src/protocol/codec.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { FrameSplitter } from "../../src/protocol/frame_stream.ts";
import type { ProtocolLevel } from "../../src/protocol/packet.ts";
import { fixtures } from "./fixtures.ts";

/** xorshift32: a seeded generator so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const MAX = 4096;

/** Feeds bytes in random cuts; returns how many packets decoded. */
function feed(bytes: Uint8Array, level: ProtocolLevel, random: () => number): number {
  const splitter = new FrameSplitter({ maxPacketSize: MAX });
  let decoded = 0;
  let offset = 0;
  try {
    while (offset < bytes.length) {
      const n = 1 + Math.floor(random() * 64);
      for (const frame of splitter.push(bytes.subarray(offset, offset + n))) {
        try {
          decodePacket(frame, level);
          decoded++;
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
      }
      assert.ok(splitter.pendingBytes <= MAX, "never buffers beyond the maximum packet size");
      offset += n;
    }
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
  }
  return decoded;
}

Deno.test("random byte streams only ever produce ProtocolError", () => {
  const random = rng(0xc0ffee);
  const deadline = Date.now() + 1000;
  let rounds = 0;
  while (Date.now() < deadline) {
    const bytes = new Uint8Array(1 + Math.floor(random() * 512)).map(() => Math.floor(random() * 256));
    feed(bytes, ([3, 4, 5] as const)[rounds % 3], random);
    rounds++;
  }
  assert.ok(rounds > 100);
});

Deno.test("mutated valid packets only ever produce ProtocolError", () => {
  const random = rng(42);
  const valid = fixtures.map((f) => ({ bytes: encodePacket(f.packet, f.level), level: f.level }));
  const deadline = Date.now() + 1000;
  let decoded = 0;
  while (Date.now() < deadline) {
    const { bytes, level } = valid[Math.floor(random() * valid.length)];
    const mutated = bytes.slice();
    const flips = 1 + Math.floor(random() * 3);
    for (let i = 0; i < flips; i++) {
      mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256);
    }
    decoded += feed(mutated, level, random);
  }
  assert.ok(decoded > 0, "some mutations still decode");
});
