import assert from "node:assert/strict";
import { listenTcp } from "../../src/transport/tcp.ts";
import type { Socket } from "../../src/transport/socket.ts";
import { PacketType } from "../../src/protocol/packet.ts";
import { ReceiveBudget } from "../../src/protocol/receive_budget.ts";
import { Engine } from "../../src/broker/broker.ts";
import { encodePacket } from "../../src/protocol/codec.ts";
import { SHARED_PAYLOAD_MIN } from "../../src/protocol/publish.ts";
import { waitFor } from "../_helpers/wait_for.ts";
import { WireClient } from "../_helpers/wire_client.ts";

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

Deno.test("TCP: a packet larger than every read buffer arrives whole, and a small one after it too", async () => {
  const sockets: Socket[] = [];
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0 }, (s) => sockets.push(s));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  try {
    // PUBLISH QoS 0, topic "t", 300 000 payload bytes (remaining length 300 003, 3 length bytes).
    const payload = Uint8Array.from({ length: 300_000 }, (_, i) => i % 251);
    const remaining = 2 + 1 + payload.length;
    const head = [
      0x30,
      (remaining & 0x7f) | 0x80,
      ((remaining >> 7) & 0x7f) | 0x80,
      remaining >> 14,
      0,
      1,
      0x74,
    ];
    const writing = (async () => {
      // A PINGREQ first: the first packet's own size limit is small (it is the CONNECT).
      const bytes = new Uint8Array([0xc0, 0x00, ...head, ...payload, 0xc0, 0x00]);
      for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
    })();
    await waitFor("the accepted socket", () => sockets.length > 0);
    const frames = [];
    while (frames.length < 3) {
      // Copied before asking for more: a batch's views are valid until the next read.
      for (const f of (await sockets[0].frames.next())!) {
        frames.push({ header: f.header, body: f.body.slice() });
      }
    }
    await writing;
    assert.deepEqual(frames.map((f) => f.header >> 4), [
      PacketType.PINGREQ,
      PacketType.PUBLISH,
      PacketType.PINGREQ,
    ]);
    assert.deepEqual(frames[1].body.subarray(3), payload);
    sockets[0].close();
    await sockets[0].closed;
  } finally {
    conn.close();
    await listener.close();
  }
});

Deno.test("TCP: next() gives each batch, null at the peer's end, and rejects on malformed input", async () => {
  const sockets: Socket[] = [];
  const listener = listenTcp(
    { hostname: "127.0.0.1", port: 0, framing: { maxPacketSize: 64 } },
    (s) => sockets.push(s),
  );
  const told = (socket: Socket) =>
    socket.frames.next().then(
      (frames) => frames === null ? "end" : frames.map((f) => f.header >> 4),
      (err) => `failed: ${(err as Error).message}`,
    );
  const a = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  const b = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  try {
    await waitFor("both sockets", () => sockets.length === 2);
    await a.write(new Uint8Array([0xc0, 0x00]));
    assert.deepEqual(await told(sockets[0]), [PacketType.PINGREQ]);
    a.close();
    assert.equal(await told(sockets[0]), "end");
    await b.write(new Uint8Array([0xc0, 0x00]));
    assert.deepEqual(await told(sockets[1]), [PacketType.PINGREQ]);
    await b.write(new Uint8Array([0x30, 0xe8, 0x07]));
    assert.match(String(await told(sockets[1])), /^failed: .*exceeds the maximum/);
    sockets[1].close();
    await Promise.all(sockets.map((s) => s.closed));
  } finally {
    b.close();
    await listener.close();
  }
});

Deno.test("TCP: large messages (written shared) reach a reading subscriber whole and in order, while one that never reads holds at most max_outbound_buffer", async () => {
  const limit = 1024 * 1024;
  const size = SHARED_PAYLOAD_MIN;
  const broker = new Engine({ limits: { maxOutboundBuffer: limit } });
  await broker.start();
  const sockets = new Map<string, Socket>();
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0 }, (s) => {
    sockets.set(s.remoteAddress, s);
    broker.handle(s);
  });
  // The subscriber that never reads: CONNECT and SUBSCRIBE, then only its CONNACK and SUBACK are read.
  const stuck = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  const reader = await WireClient.connect({ port: listener.port, level: 4 });
  const publisher = await WireClient.connect({ port: listener.port, level: 4 });
  try {
    await stuck.write(Uint8Array.of(
      ...encodePacket({
        type: PacketType.CONNECT,
        protocolName: "MQTT",
        protocolLevel: 4,
        clean: true,
        keepAlive: 0,
        clientId: "stuck",
      }, 4),
      ...encodePacket({
        type: PacketType.SUBSCRIBE,
        packetId: 1,
        subscriptions: [{
          filter: "big",
          qos: 0,
          noLocal: false,
          retainAsPublished: false,
          retainHandling: 0,
        }],
      }, 4),
    ));
    const acks = new Uint8Array(9); // CONNACK (4 bytes) and SUBACK (5)
    for (let at = 0; at < acks.length;) at += (await stuck.read(acks.subarray(at)))!;
    assert.deepEqual([acks[0], acks[4]], [0x20, 0x90]);
    const local = `127.0.0.1:${(stuck.localAddr as Deno.NetAddr).port}`;
    await reader.subscribe("big", 0);
    // 16 MiB in rounds of 4 messages, each round read by `reader` before the next: far more
    // than the socket buffers of the one that never reads take.
    const rounds = 64;
    const perRound = 4;
    let most = 0;
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < perRound; i++) {
        const n = round * perRound + i;
        const payload = new Uint8Array(size).fill(n % 251);
        payload[0] = n >> 8;
        payload[1] = n & 0xff;
        await publisher.publish("big", payload);
      }
      for (let i = 0; i < perRound; i++) {
        const n = round * perRound + i;
        const got = await reader.expect(PacketType.PUBLISH);
        assert.equal(got.payload.length, size);
        assert.equal((got.payload[0] << 8) | got.payload[1], n, "in order");
        assert.ok(got.payload.subarray(2).every((b) => b === n % 251), `message ${n} intact`);
      }
      most = Math.max(most, sockets.get(local)!.bufferedBytes);
    }
    assert.ok(broker.stats.dropped.slow_consumer > 0, "QoS 0 to the one that never reads was dropped");
    // A message is dropped once the buffer is past the limit: at most one more is queued.
    assert.ok(most > 0 && most <= limit + size + 64, `${most} bytes queued to the one that never reads`);
  } finally {
    stuck.close();
    reader.close();
    publisher.close();
    await broker.close();
    await listener.close();
  }
});
