/**
 * The ws and wss listeners on their own, spoken to byte by byte: the upgrade,
 * WebSocket control frames, the handshake stage timed and counted, and wss
 * client certificates.
 */
import assert from "node:assert/strict";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import type { Buffer } from "node:buffer";
import type { Socket } from "../../src/transport/socket.ts";
import { listenWebSocket, type WebSocketListener } from "../../src/transport/websocket_listener.ts";
import { makeCerts, opensslAvailable, type TestCerts } from "../_helpers/certs.ts";
import { clientFrame, upgradeRequest } from "../_helpers/websocket_bytes.ts";
import { waitFor } from "../_helpers/wait_for.ts";

const certs: TestCerts | undefined = opensslAvailable ? await makeCerts() : undefined;
if (!certs) console.warn("skipping the wss listener tests: openssl is not installed");
const read = (path: string) => Deno.readTextFileSync(path);
const encode = (text: string) => new TextEncoder().encode(text);

const UPGRADE = upgradeRequest();

/** Reads from `conn` until `done(bytes)` holds or the peer closes; returns what arrived. */
async function readUntil(conn: Deno.Conn, done: (bytes: number[]) => boolean): Promise<number[]> {
  const got: number[] = [];
  const buf = new Uint8Array(4096);
  while (!done(got)) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    got.push(...buf.subarray(0, n));
  }
  return got;
}

const text = (bytes: number[]) => new TextDecoder().decode(Uint8Array.from(bytes));
const headDone = (bytes: number[]) => text(bytes).includes("\r\n\r\n");

async function withListener(
  options: Partial<Parameters<typeof listenWebSocket>[0]>,
  fn: (listener: WebSocketListener, sockets: Socket[]) => Promise<void>,
): Promise<void> {
  const sockets: Socket[] = [];
  const listener = await listenWebSocket(
    { hostname: "127.0.0.1", port: 0, ...options },
    (s) => sockets.push(s),
  );
  try {
    await fn(listener, sockets);
  } finally {
    for (const s of sockets) s.close();
    await Promise.all(sockets.map((s) => s.closed));
    await listener.close();
  }
}

Deno.test({
  name: "ws: the upgrade, MQTT in binary frames, ping answered with pong, and a close echoed",
  sanitizeResources: false,
  async fn() {
    await withListener({}, async (listener, sockets) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
      // The request and the first frame in one write: the frame is not lost behind the head.
      await conn.write(Uint8Array.from([...encode(UPGRADE), ...clientFrame(0x82, [0xc0, 0x00])]));
      const head = text(await readUntil(conn, headDone));
      assert.match(head, /^HTTP\/1\.1 101 /);
      assert.match(head, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
      assert.match(head, /Sec-WebSocket-Protocol: mqtt\r\n/);
      await waitFor("the socket", () => sockets.length === 1);
      assert.equal((await sockets[0].frames.next())?.[0].header, 0xc0, "PINGREQ arrives as MQTT");
      sockets[0].write(Uint8Array.of(0xd0, 0x00));
      assert.deepEqual(
        await readUntil(conn, (b) => b.length >= 4),
        [0x82, 0x02, 0xd0, 0x00],
        "PINGRESP in a binary frame",
      );
      await conn.write(clientFrame(0x89, [0x61])); // ping "a"
      assert.deepEqual(await readUntil(conn, (b) => b.length >= 3), [0x8a, 0x01, 0x61]);
      await conn.write(clientFrame(0x88, [0x03, 0xe8])); // close 1000
      assert.deepEqual(
        await readUntil(conn, () => false),
        [0x88, 0x02, 0x03, 0xe8],
        "close echoed, then EOF",
      );
      assert.equal(await sockets[0].frames.next(), null);
      conn.close();
    });
  },
});

Deno.test({
  name: "ws: other paths get 404 and a plain GET 426, each counted as a refused upgrade",
  sanitizeResources: false,
  async fn() {
    await withListener({}, async (listener) => {
      for (
        const [request, status] of [
          [UPGRADE.replace("/mqtt", "/other"), 404],
          ["GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n", 426],
        ] as const
      ) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
        await conn.write(encode(request));
        assert.match(text(await readUntil(conn, () => false)), new RegExp(`^HTTP/1\\.1 ${status} `));
        conn.close();
      }
      assert.equal(listener.stats.upgradeFailures, 2);
    });
  },
});

Deno.test({
  name:
    "ws: idle and trickling connections before the upgrade are closed at the connect timeout and hold slots",
  sanitizeResources: false,
  async fn() {
    await withListener({ maxConnections: 2, handshakeTimeoutMs: () => 300 }, async (listener) => {
      const idle = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
      const trickler = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
      let sent = 0;
      const drip = setInterval(
        () => trickler.write(encode(UPGRADE[sent++ % UPGRADE.length])).catch(() => {}),
        50,
      );
      try {
        await waitFor("both in their handshake", () => listener.stats.handshaking === 2);
        const third = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
        assert.deepEqual(await readUntil(third, () => false), [], "the listener is full: closed at once");
        third.close();
        const start = performance.now();
        await Promise.all([readUntil(idle, () => false), readUntil(trickler, () => false)]);
        assert.ok(performance.now() - start < 2000);
        assert.ok(sent > 3, "the trickler was still sending when it was closed");
      } finally {
        clearInterval(drip);
        idle.close();
        trickler.close();
      }
      assert.equal(listener.stats.handshakeTimeouts, 2);
      assert.equal(listener.stats.refused, 1);
      await waitFor("the slots given back", () => listener.stats.open === 0);
    });
  },
});

/** Upgrades over TLS with node:tls; resolves with the 101 head, or "closed" when refused. */
function wssUpgrade(
  port: number,
  extra: Record<string, unknown>,
): Promise<{ head: string; socket: TLSSocket } | "closed"> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port,
      ca: read(certs!.caCert),
      servername: "localhost",
      ...extra,
    });
    let got = "";
    socket.on("secureConnect", () => socket.write(UPGRADE));
    socket.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (got.includes("\r\n\r\n")) resolve({ head: got, socket });
    });
    socket.on("error", () => resolve("closed"));
    socket.on("close", () => resolve("closed"));
  });
}

Deno.test({
  name:
    "wss: with require_certificate a client without a certificate is refused and one with a certificate is identified by its CN",
  ignore: !certs,
  sanitizeResources: false,
  async fn() {
    const c = certs!;
    const tls = {
      cert: read(c.serverCert),
      key: read(c.serverKey),
      ca: read(c.caCert),
      requireCertificate: true,
    };
    await withListener({ tls }, async (listener, sockets) => {
      assert.equal(await wssUpgrade(listener.port, {}), "closed");
      assert.equal(sockets.length, 0);
      await waitFor("the failure counted", () => listener.stats.tlsFailures === 1);
      const accepted = await wssUpgrade(listener.port, { key: read(c.clientKey), cert: read(c.clientCert) });
      assert.notEqual(accepted, "closed");
      if (accepted === "closed") return;
      assert.match(accepted.head, /^HTTP\/1\.1 101 /);
      await waitFor("the socket", () => sockets.length === 1);
      assert.equal(sockets[0].identity, "device-7");
      accepted.socket.destroy();
    });
  },
});

Deno.test({
  name: "wss: a silent TCP connection is closed at the connect timeout",
  ignore: !certs,
  sanitizeResources: false,
  async fn() {
    const c = certs!;
    await withListener(
      { tls: { cert: read(c.serverCert), key: read(c.serverKey) }, handshakeTimeoutMs: () => 300 },
      async (listener) => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
        const start = performance.now();
        await readUntil(conn, () => false);
        assert.ok(performance.now() - start < 2000);
        conn.close();
        assert.equal(listener.stats.handshakeTimeouts, 1);
      },
    );
  },
});

if (certs) globalThis.addEventListener("unload", () => Deno.removeSync(certs.dir, { recursive: true }));
