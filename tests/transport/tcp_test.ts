import assert from "node:assert/strict";
import { listenTcp } from "../../src/transport/tcp.ts";
import type { Socket } from "../../src/transport/socket.ts";
import { PacketType } from "../../src/protocol/packet.ts";
import { ReceiveBudget } from "../../src/protocol/receive_budget.ts";
import { waitFor } from "../_helpers/wait_for.ts";

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
  const listener = listenTcp(
    { hostname: "127.0.0.1", port: 0, framing: { maxPacketSize: 64 } },
    (s) => sockets.push(s),
  );
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

Deno.test("TCP: a packet cut off by either side's close gives its bytes back to the receive budget", async () => {
  const budget = new ReceiveBudget(64 * 1024 * 1024);
  const sockets: Socket[] = [];
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0, framing: { budget } }, (s) => sockets.push(s));
  try {
    for (const closer of ["client", "broker"]) {
      sockets.length = 0;
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
      // PUBLISH declaring 10 MB, then 1 MiB of it.
      await conn.write(Uint8Array.of(0x30, 0x80, 0xad, 0xe2, 0x04));
      const part = new Uint8Array(1024 * 1024);
      for (let at = 0; at < part.length;) at += await conn.write(part.subarray(at));
      await waitFor("the connection", () => sockets.length === 1);
      const reading = sockets[0].frames.next();
      await waitFor(`1 MiB held (${budget.used})`, () => budget.used >= 1024 * 1024);
      if (closer === "client") conn.close();
      else sockets[0].close();
      assert.equal(await reading, null, `${closer} closed: no frame`);
      assert.equal(budget.used, 0, `${closer} closed: the budget is whole again`);
      if (closer === "broker") conn.close();
      await sockets[0].closed;
    }
  } finally {
    await listener.close();
  }
});
