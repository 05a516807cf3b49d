/** Codec micro-benchmarks: PUBLISH decode and encode at 64 B and 16 KiB, levels 4 and 5. */
import { decodePacket, encodePacket, encodePublish } from "../../src/protocol/codec.ts";
import { FrameSplitter } from "../../src/protocol/frame_stream.ts";
import { type Frame, PacketType, type PublishPacket } from "../../src/protocol/packet.ts";

function publish(size: number, qos: 0 | 1): PublishPacket {
  return {
    type: PacketType.PUBLISH,
    topic: "bench/topic",
    payload: new Uint8Array(size).fill(7),
    qos,
    retain: false,
    dup: false,
    packetId: qos ? 1 : undefined,
  };
}

function frameOf(bytes: Uint8Array): Frame {
  return new FrameSplitter().push(bytes)[0];
}

for (const size of [64, 16 * 1024]) {
  for (const level of [4, 5] as const) {
    const packet = publish(size, 0);
    const frame = frameOf(encodePacket(packet, level));
    Deno.bench(`decode PUBLISH ${size} B, level ${level}`, { group: `decode ${size}` }, () => {
      decodePacket(frame, level);
    });
    Deno.bench(`encodePublish (shared head) ${size} B, level ${level}`, { group: `encode ${size}` }, () => {
      encodePublish(packet, level);
    });
    Deno.bench(`encodePacket (one buffer) ${size} B, level ${level}`, { group: `encode ${size}` }, () => {
      encodePacket(packet, level);
    });
  }
}

const many = new Uint8Array(Array.from({ length: 100 }, () => [...encodePacket(publish(64, 0), 4)]).flat());
Deno.bench("frame + decode a 100-packet chunk of 64 B PUBLISH", () => {
  for (const frame of new FrameSplitter().push(many)) decodePacket(frame, 4);
});
