import assert from "node:assert/strict";
import { parseProxyHeader } from "../../src/transport/proxy_protocol.ts";
import { listenTcp } from "../../src/transport/tcp.ts";
import type { Socket } from "../../src/transport/socket.ts";

const te = new TextEncoder();

Deno.test("PROXY v1 headers give the client address; partial headers ask for more", () => {
  const line = te.encode("PROXY TCP4 203.0.113.7 10.0.0.1 51000 1883\r\n");
  assert.deepEqual(parseProxyHeader(line), { length: line.length, remoteAddress: "203.0.113.7:51000" });
  assert.equal(parseProxyHeader(line.subarray(0, 10)), null);
  assert.deepEqual(
    parseProxyHeader(te.encode("PROXY TCP6 2001:db8::1 ::1 4000 1883\r\n"))?.remoteAddress,
    "[2001:db8::1]:4000",
  );
  assert.deepEqual(parseProxyHeader(te.encode("PROXY UNKNOWN\r\n")), { length: 15 });
  assert.throws(() => parseProxyHeader(te.encode("GET / HTTP/1.1\r\n")));
});

Deno.test("PROXY v2 headers (IPv4 and LOCAL) give the client address", () => {
  const sig = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
  const v4 = new Uint8Array([
    ...sig,
    0x21,
    0x11,
    0x00,
    0x0c,
    198,
    51,
    100,
    9,
    10,
    0,
    0,
    1,
    0xc3,
    0x50,
    0x07,
    0x5b,
  ]);
  assert.deepEqual(parseProxyHeader(v4), { length: 28, remoteAddress: "198.51.100.9:50000" });
  assert.equal(parseProxyHeader(v4.subarray(0, 20)), null);
  const local = new Uint8Array([...sig, 0x20, 0x00, 0x00, 0x00]);
  assert.deepEqual(parseProxyHeader(local), { length: 16 });
});

Deno.test("a tcp listener with proxy_protocol reports the real client address and frames what follows", async () => {
  const sockets: Socket[] = [];
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0, proxyProtocol: true }, (s) => sockets.push(s));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  try {
    await conn.write(
      new Uint8Array([...te.encode("PROXY TCP4 203.0.113.7 10.0.0.1 51000 1883\r\n"), 0xc0, 0x00]),
    );
    while (sockets.length === 0) await new Promise((r) => setTimeout(r, 5));
    assert.equal(sockets[0].remoteAddress, "203.0.113.7:51000");
    const batch = await sockets[0].frames.next();
    assert.equal(batch![0].header, 0xc0);
    sockets[0].close();
    await sockets[0].closed;
  } finally {
    conn.close();
    await listener.close();
  }
});

Deno.test("a listener's max_connections refuses connections beyond it", async () => {
  const sockets: Socket[] = [];
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0, maxConnections: 1 }, (s) => sockets.push(s));
  const first = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  const second = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  try {
    assert.equal(await second.read(new Uint8Array(1)), null, "the second connection is closed at once");
    assert.equal(sockets.length, 1);
    sockets[0].close();
    await sockets[0].closed;
  } finally {
    first.close();
    second.close();
    await listener.close();
  }
});
