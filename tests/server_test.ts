/**
 * The whole server from a configuration, in process: connection limits on every
 * listener type, pre-CONNECT connections counted, the shared framing limits and
 * receive budget on every listener type, startup errors that name the listener,
 * and certificates checked at start and at reload.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Buffer } from "node:buffer";
import type { LogRecord } from "@logtape/logtape";
import { parseConfig } from "../src/config/load_config.ts";
import { configureLoggingTo } from "../src/log/logging.ts";
import { ProtocolError } from "../src/protocol/errors.ts";
import { Reason } from "../src/protocol/packet.ts";
import { ReceiveBudget } from "../src/protocol/receive_budget.ts";
import { checkCertificates } from "../src/preflight.ts";
import { startServer } from "../src/server.ts";
import { type Listener, startListener } from "../src/transport/listener.ts";
import type { Socket } from "../src/transport/socket.ts";
import { freePort, startBroker } from "./_helpers/broker_process.ts";
import { makeCerts, opensslAvailable, type TestCerts } from "./_helpers/certs.ts";
import { upgradeRequest } from "./_helpers/websocket_bytes.ts";
import { waitFor } from "./_helpers/wait_for.ts";

const certs: TestCerts | undefined = opensslAvailable ? await makeCerts() : undefined;
if (!certs) console.warn("skipping the tls/wss server tests: openssl is not installed");

/** Connects with mqtt.js; resolves with the client, or "refused" when the broker closes it first. */
function attempt(url: string, options: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient | "refused"> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3000, ...options });
    const refused = () => {
      client.end(true);
      resolve("refused");
    };
    client.once("connect", () => {
      client.off("close", refused);
      client.off("error", refused);
      resolve(client);
    });
    client.once("close", refused);
    client.once("error", refused);
  });
}

async function roundTrip(client: mqtt.MqttClient, topic: string): Promise<void> {
  const got = new Promise<void>((resolve) => client.once("message", () => resolve()));
  await client.subscribeAsync(topic, { qos: 1 });
  await client.publishAsync(topic, "x", { qos: 1 });
  await got;
}

Deno.test({
  name: "listeners[].max_connections holds on tcp, tls, ws and wss alike",
  ignore: !certs,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = certs!;
    const tlsFiles = `cert_file: ${c.serverCert}, key_file: ${c.serverKey}`;
    const server = await startServer(parseConfig(
      `listeners:
  - { type: tcp, port: 0, max_connections: 1 }
  - { type: tls, port: 0, max_connections: 1, ${tlsFiles} }
  - { type: ws, port: 0, max_connections: 1 }
  - { type: wss, port: 0, max_connections: 1, ${tlsFiles} }
persistence: { type: memory }
`,
      "limits.yaml",
    ));
    const ca = Buffer.from(Deno.readTextFileSync(c.caCert));
    const urls = server.listeners.map((l) =>
      l.type === "tcp"
        ? `mqtt://127.0.0.1:${l.port}`
        : l.type === "tls"
        ? `mqtts://localhost:${l.port}`
        : `${l.type}://localhost:${l.port}/mqtt`
    );
    const clients: mqtt.MqttClient[] = [];
    try {
      for (const url of urls) {
        const first = await attempt(url, { ca });
        assert.notEqual(first, "refused", `${url}: the first client is accepted`);
        clients.push(first as mqtt.MqttClient);
        assert.equal(await attempt(url, { ca }), "refused", `${url}: the second is refused`);
        await roundTrip(first as mqtt.MqttClient, `limit/${url.split(":")[0]}`);
      }
      for (const l of server.listeners) assert.equal(l.stats?.refused, 1, l.name);
    } finally {
      await Promise.all(clients.map((cl) => cl.endAsync()));
      await server.close();
    }
  },
});

Deno.test({
  name:
    "connections that have not sent CONNECT count against limits.max_connections until the connect timeout",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await startServer(parseConfig(
      "listeners:\n  - { type: tcp, port: 0 }\n  - { type: ws, port: 0 }\npersistence: { type: memory }\n" +
        "limits: { max_connections: 2, connect_timeout_ms: 400 }\n",
      "global.yaml",
    ));
    const [tcp, ws] = server.listeners;
    const idle = [
      await Deno.connect({ hostname: "127.0.0.1", port: tcp.port }),
      await Deno.connect({ hostname: "127.0.0.1", port: ws.port }),
    ];
    try {
      const deadline = Date.now() + 2000;
      while ((tcp.stats!.open + ws.stats!.open) < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(
        await attempt(`mqtt://127.0.0.1:${tcp.port}`),
        "refused",
        "two silent sockets fill the broker",
      );
      assert.equal(await attempt(`ws://127.0.0.1:${ws.port}/mqtt`), "refused");
      // Both silent sockets are closed at the connect timeout, and their slots come back.
      for (const conn of idle) assert.equal(await conn.read(new Uint8Array(1)).catch(() => null), null);
      const client = await attempt(`ws://127.0.0.1:${ws.port}/mqtt`);
      assert.notEqual(client, "refused");
      await (client as mqtt.MqttClient).endAsync();
    } finally {
      for (const conn of idle) conn.close();
      await server.close();
    }
  },
});

/** `promise`, or a failure naming `what` when it does not settle within `ms`. */
async function within<T>(promise: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)
  );
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A masked binary WebSocket frame (mask 0 0 0 0) with a 16-bit length. */
function binaryFrame(payload: Uint8Array): Uint8Array {
  const n = payload.length;
  return Uint8Array.from([0x82, 0x80 | 126, n >> 8, n & 0xff, 0, 0, 0, 0, ...payload]);
}

/**
 * Opens a connection to `listener` and gets it as far as MQTT bytes (PROXY header sent,
 * TLS done, WebSocket upgraded); `send` then writes MQTT bytes as a client of that type does.
 */
async function rawClient(
  listener: Listener,
  proxy: boolean,
  caCert: string,
): Promise<{ send(bytes: Uint8Array): Promise<void>; close(): void }> {
  const address = { hostname: "127.0.0.1", port: listener.port };
  const secure = listener.type === "tls" || listener.type === "wss";
  const conn = secure
    ? await Deno.connectTls({ ...address, caCerts: [Deno.readTextFileSync(caCert)] })
    : await Deno.connect(address);
  const write = async (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
  };
  if (proxy) await write(new TextEncoder().encode("PROXY TCP4 192.0.2.7 127.0.0.1 40000 1883\r\n"));
  const ws = listener.type === "ws" || listener.type === "wss";
  if (ws) {
    await write(new TextEncoder().encode(upgradeRequest()));
    let head = "";
    const buf = new Uint8Array(1024);
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) throw new Error("closed before the upgrade was answered");
      head += new TextDecoder().decode(buf.subarray(0, n));
    }
    assert.match(head, /^HTTP\/1\.1 101 /);
  }
  return {
    send: (bytes) => write(ws ? binaryFrame(bytes) : bytes),
    close() {
      try {
        conn.close();
      } catch {
        // already closed
      }
    },
  };
}

Deno.test({
  name:
    "every listener type (tcp, PROXY, tls, ws, wss) frames with the broker's shared limits and receive budget",
  ignore: !certs,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = certs!;
    const tlsFiles = `cert_file: ${c.serverCert}, key_file: ${c.serverKey}`;
    const { listeners: configs } = parseConfig(
      `listeners:
  - { type: tcp, port: 0 }
  - { type: tcp, port: 0, proxy_protocol: true }
  - { type: tls, port: 0, ${tlsFiles} }
  - { type: ws, port: 0 }
  - { type: wss, port: 0, ${tlsFiles} }
`,
      "framing.yaml",
    );
    // What framingOptions(broker) makes: one object for every listener of the broker.
    const budget = new ReceiveBudget(1024 * 1024);
    const framing = { maxPacketSize: 1024 * 1024, maxFirstPacketSize: 4096, budget };
    const sockets: Socket[] = [];
    const listeners: Listener[] = [];
    try {
      for (const l of configs) {
        listeners.push(await startListener(l, { framing, onSocket: (s) => sockets.push(s) }));
      }
      for (const [i, listener] of listeners.entries()) {
        const kind = `${listener.type}${configs[i].proxy_protocol ? "+PROXY" : ""}`;
        // Closed by the client; by the broker at once (it wrote nothing); by the broker after
        // writing (a lingering close, which ends when the client closes its side too).
        for (const closer of ["client", "broker", "broker after writing"]) {
          sockets.length = 0;
          const client = await rawClient(listener, configs[i].proxy_protocol, c.caCert);
          // A CONNECT declaring 3000 bytes (within the first-packet limit), 1000 of them sent.
          await client.send(Uint8Array.of(0x10, 0xb8, 0x17, ...new Uint8Array(1000)));
          await waitFor(`${kind}: the socket`, () => sockets.length === 1);
          const reading = sockets[0].frames.next();
          await waitFor(
            `${kind}: the partial CONNECT held in the budget (${budget.used})`,
            () => budget.used === 3000,
          );
          if (closer === "client") client.close();
          else {
            if (closer === "broker after writing") sockets[0].write(Uint8Array.of(0xd0, 0x00));
            sockets[0].close();
            if (closer === "broker after writing") client.close();
          }
          assert.equal(
            // Never written to, it is not drained for the 2 s of a lingering close: ended at once.
            await within(reading, `${kind}, ${closer}: the end`, closer === "broker" ? 1000 : 5000),
            null,
            `${kind}, ${closer}: no frame`,
          );
          sockets[0].close(); // as the engine does once its frames end
          await waitFor(
            `${kind}, ${closer} closed: the budget whole again (${budget.used})`,
            () => budget.used === 0,
          );
          await within(sockets[0].closed, `${kind}, ${closer}: the socket closed`);
          client.close();
        }
        sockets.length = 0;
        const client = await rawClient(listener, configs[i].proxy_protocol, c.caCert);
        await client.send(Uint8Array.of(0x10, 0x80, 0x80, 0x80, 0x64)); // a CONNECT declaring 200 MB
        await waitFor(`${kind}: the socket`, () => sockets.length === 1);
        await assert.rejects(
          sockets[0].frames.next(),
          (err) => err instanceof ProtocolError && err.reasonCode === Reason.PacketTooLarge,
          `${kind}: refused from the header by the first-packet limit`,
        );
        assert.equal(budget.used, 0, `${kind}: nothing of the 200 MB reserved`);
        sockets[0].close();
        await sockets[0].closed;
        client.close();
      }
    } finally {
      await Promise.all(listeners.map((l) => l.close()));
    }
  },
});

Deno.test({
  name: "a wss listener honours ca_file and require_certificate as a tls listener does",
  ignore: !certs,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = certs!;
    const server = await startServer(parseConfig(
      `listeners:\n  - { type: wss, port: 0, cert_file: ${c.serverCert}, key_file: ${c.serverKey}, ` +
        `ca_file: ${c.caCert}, require_certificate: true }\npersistence: { type: memory }\nauth: { allow_anonymous: false }\n`,
      "mtls.yaml",
    ));
    const url = `wss://localhost:${server.listeners[0].port}/mqtt`;
    const ca = Buffer.from(Deno.readTextFileSync(c.caCert));
    try {
      assert.equal(await attempt(url, { ca }), "refused", "no client certificate: refused");
      const client = await attempt(url, {
        ca,
        key: Buffer.from(Deno.readTextFileSync(c.clientKey)),
        cert: Buffer.from(Deno.readTextFileSync(c.clientCert)),
      });
      assert.notEqual(
        client,
        "refused",
        "with a certificate: accepted, its CN standing in for the user name",
      );
      await roundTrip(client as mqtt.MqttClient, "mtls/wss");
      await (client as mqtt.MqttClient).endAsync();
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name: "a listener that cannot bind names itself and its address",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (taken.addr as Deno.NetAddr).port;
    try {
      await assert.rejects(
        startServer(parseConfig(
          `listeners:\n  - { type: tcp, port: 0 }\n  - { type: ws, port: ${port} }\npersistence: { type: memory }\n`,
          "busy.yaml",
        )),
        new RegExp(`^Error: listeners\\[1\\] \\(ws 127\\.0\\.0\\.1:${port}\\): Address already in use`),
      );
      await assert.rejects(
        startServer(parseConfig(
          `listeners:\n  - { type: tcp, port: 0 }\npersistence: { type: memory }\nadmin: { enabled: true, port: ${port} }\n`,
          "busy.yaml",
        )),
        new RegExp(`^Error: admin \\(127\\.0\\.0\\.1:${port}\\): Address already in use`),
      );
    } finally {
      taken.close();
    }
  },
});

Deno.test({
  name: "the program says which listener cannot start, and on which address",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (taken.addr as Deno.NetAddr).port;
    try {
      const failed = await startBroker({
        yaml: `  - { type: ws, host: 127.0.0.1, port: ${port} }\npersistence: { type: memory }\n`,
      })
        .then(() => "started", (err: Error) => err.message);
      assert.match(
        failed,
        new RegExp(`Cannot start: listeners\\[1\\] \\(ws 127\\.0\\.0\\.1:${port}\\): Address already in use`),
      );
    } finally {
      taken.close();
    }
  },
});

Deno.test({
  name: "a key that does not match its certificate refuses the start, naming the key file",
  ignore: !certs,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = certs!;
    for (const type of ["tls", "wss"]) {
      await assert.rejects(
        startServer(parseConfig(
          `listeners:\n  - { type: ${type}, port: 0, cert_file: ${c.serverCert}, key_file: ${c.clientKey} }\n` +
            "persistence: { type: memory }\n",
          "mismatch.yaml",
        )),
        (err: Error) => {
          assert.match(
            err.message,
            new RegExp(`^listeners\\[0\\] \\(${type} 127\\.0\\.0\\.1:0\\): the key in `),
          );
          assert.ok(err.message.includes(c.clientKey), err.message);
          return true;
        },
      );
    }
    // The same check without binding anything, for --check-config.
    const config = parseConfig(
      `listeners:\n  - { type: tcp, port: 0 }\n` +
        `  - { type: wss, port: 8443, cert_file: ${c.serverCert}, key_file: ${c.clientKey} }\n`,
      "mismatch.yaml",
    );
    const [problem, ...more] = checkCertificates(config);
    assert.match(problem, /^listeners\[1\]\.key_file: the key in /);
    assert.deepEqual(more, []);
    config.listeners[1].key_file = c.serverKey;
    assert.deepEqual(checkCertificates(config), []);
  },
});

Deno.test({
  name: "a reload with a broken certificate keeps the working one and says why",
  ignore: !certs,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = certs!;
    const dir = await Deno.makeTempDir();
    const [cert, key] = [`${dir}/server.crt`, `${dir}/server.key`];
    await Deno.copyFile(c.serverCert, cert);
    await Deno.copyFile(c.serverKey, key);
    const yaml =
      `listeners:\n  - { type: tls, port: ${freePort()}, cert_file: ${cert}, key_file: ${key} }\n` +
      `  - { type: wss, port: ${freePort()}, cert_file: ${cert}, key_file: ${key} }\npersistence: { type: memory }\n`;
    const server = await startServer(parseConfig(yaml, "reload.yaml"));
    const records: LogRecord[] = [];
    await configureLoggingTo({ level: "info", format: "text", categories: {}, payloads: false }, (r) => {
      records.push(r);
    });
    const ca = Buffer.from(Deno.readTextFileSync(c.caCert));
    try {
      await Deno.writeTextFile(cert, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n");
      const { applied } = await server.reload(parseConfig(yaml, "reload.yaml", { checkFiles: false }));
      assert.ok(!applied.some((a) => a.startsWith("certificates (")), applied.join("; "));
      assert.ok(applied.some((a) => a.startsWith("certificates kept for")), applied.join("; "));
      const errors = records.filter((r) => r.level === "error").map((r) => String(r.properties.error));
      assert.equal(errors.length, 2, "one error per listener");
      assert.ok(errors.every((e) => e.includes(cert) && /cannot be parsed/.test(e)), errors.join("\n"));
      for (const l of server.listeners) {
        const url = l.type === "tls" ? `mqtts://localhost:${l.port}` : `wss://localhost:${l.port}/mqtt`;
        const client = await attempt(url, { ca });
        assert.notEqual(client, "refused", `${l.type} still serves the old certificate`);
        await (client as mqtt.MqttClient).endAsync();
      }
    } finally {
      await configureLoggingTo({ level: "fatal", format: "text", categories: {}, payloads: false }, () => {});
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

if (certs) globalThis.addEventListener("unload", () => Deno.removeSync(certs.dir, { recursive: true }));
