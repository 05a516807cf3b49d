import assert from "node:assert/strict";
import { listenTcp } from "../../src/transport/tcp.ts";
import type { Socket } from "../../src/transport/socket.ts";
import { PacketType } from "../../src/protocol/packet.ts";

Deno.test("TCP: frames split across writes arrive whole, replies are written back, EOF closes", async () => {
  const sockets: Socket[] = [];
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0 }, (s) => sockets.push(s));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  try {
    // PINGREQ, then a PUBLISH cut in the middle of its topic.
    await conn.write(new Uint8Array([0xc0, 0x00, 0x30, 0x05, 0x00]));
    await new Promise((r) => setTimeout(r, 20));
    await conn.write(new Uint8Array([0x01, 0x74, 0x68, 0x69]));
    while (sockets.length === 0) await new Promise((r) => setTimeout(r, 5));
    const socket = sockets[0];
    assert.match(socket.remoteAddress, /^127\.0\.0\.1:\d+$/);
    const headers: number[] = [];
    while (headers.length < 2) {
      for (const f of (await socket.frames.next())!) headers.push(f.header >> 4);
    }
    assert.deepEqual(headers, [PacketType.PINGREQ, PacketType.PUBLISH]);
    socket.write(new Uint8Array([0xd0, 0x00]));
    const buf = new Uint8Array(2);
    assert.equal(await conn.read(buf), 2);
    assert.deepEqual([...buf], [0xd0, 0x00]);
    conn.close();
    assert.equal(await socket.frames.next(), null, "the peer's close ends the frames");
    await socket.closed;
  } finally {
    await listener.close();
  }
});

Deno.test("TCP: an oversized packet makes reading the frames fail with 0x95", async () => {
  const sockets: Socket[] = [];
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0, maxPacketSize: 64 }, (s) => sockets.push(s));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  try {
    await conn.write(new Uint8Array([0x30, 0xe8, 0x07]));
    while (sockets.length === 0) await new Promise((r) => setTimeout(r, 5));
    await assert.rejects(() => sockets[0].frames.next(), /exceeds the maximum/);
    sockets[0].close();
    await sockets[0].closed;
  } finally {
    conn.close();
    await listener.close();
  }
});
