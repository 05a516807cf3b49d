/**
 * Every listener type end to end with mqtt.js (tcp, tls, ws, wss), Mosquitto's
 * clients over TLS, subprotocol negotiation, client certificates, and CONNACK
 * latency over TLS (TCP_NODELAY through node:tls).
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Buffer } from "node:buffer";
import { freePort, hasCommand, run, startBroker } from "../_helpers/broker_process.ts";
import { makeCerts, opensslAvailable } from "../_helpers/certs.ts";

if (!opensslAvailable) console.warn("skipping TLS/WSS listener tests: openssl is not installed");

/** A hand-written 3.1.1 CONNECT (clean session, keep-alive 60) for a one-character client id. */
function rawConnect(clientId: string): number[] {
  return [
    0x10,
    0x0d,
    0x00,
    0x04,
    0x4d,
    0x51,
    0x54,
    0x54,
    0x04,
    0x02,
    0x00,
    0x3c,
    0x00,
    0x01,
    clientId.charCodeAt(0),
  ];
}

async function roundTrip(url: string, options: mqtt.IClientOptions = {}): Promise<string> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  try {
    const got = new Promise<string>((resolve) => client.once("message", (_t, p) => resolve(p.toString())));
    await client.subscribeAsync("lt/echo", { qos: 1 });
    await client.publishAsync("lt/echo", `via ${url.split(":")[0]}`, { qos: 1 });
    return await got;
  } finally {
    await client.endAsync();
  }
}

Deno.test({
  name: "tcp, tls, ws and wss listeners each carry MQTT end to end",
  ignore: !opensslAvailable,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const certs = await makeCerts();
    const [tls, ws, wss, mtls] = [freePort(), freePort(), freePort(), freePort()];
    const broker = await startBroker({
      yaml:
        `  - { type: tls, host: 127.0.0.1, port: ${tls}, cert_file: ${certs.serverCert}, key_file: ${certs.serverKey} }
  - { type: ws, host: 127.0.0.1, port: ${ws}, path: /mqtt }
  - { type: wss, host: 127.0.0.1, port: ${wss}, cert_file: ${certs.serverCert}, key_file: ${certs.serverKey} }
  - { type: tls, host: 127.0.0.1, port: ${mtls}, cert_file: ${certs.serverCert}, key_file: ${certs.serverKey}, ca_file: ${certs.caCert}, require_certificate: true }
persistence:
  type: memory
`,
    });
    const ca = Buffer.from(await Deno.readFile(certs.caCert));
    try {
      await t.step(
        "tcp",
        async () => assert.equal(await roundTrip(`mqtt://127.0.0.1:${broker.port}`), "via mqtt"),
      );
      await t.step(
        "tls",
        async () => assert.equal(await roundTrip(`mqtts://localhost:${tls}`, { ca }), "via mqtts"),
      );
      await t.step("ws", async () => assert.equal(await roundTrip(`ws://127.0.0.1:${ws}/mqtt`), "via ws"));
      await t.step(
        "wss",
        async () => assert.equal(await roundTrip(`wss://localhost:${wss}/mqtt`, { ca }), "via wss"),
      );
      await t.step("a client certificate is required and its CN identifies the client", async () => {
        const { connect } = await import("node:tls");
        const key = Buffer.from(await Deno.readFile(certs.clientKey));
        const cert = Buffer.from(await Deno.readFile(certs.clientCert));
        /** CONNECT without a user name over TLS; resolves with the CONNACK return code, or "closed". */
        const attempt = (withCert: boolean) =>
          new Promise<number | "closed">((resolve) => {
            const socket = connect({
              host: "127.0.0.1",
              port: mtls,
              ca,
              servername: "localhost",
              ...(withCert ? { key, cert } : {}),
            });
            const timer = setTimeout(() => (socket.destroy(), resolve("closed")), 3000);
            const done = (v: number | "closed") => (clearTimeout(timer), socket.destroy(), resolve(v));
            socket.on("secureConnect", () =>
              socket.write(
                Buffer.from(rawConnect("c")),
              ));
            socket.on("data", (d: Buffer) => done(d[3]));
            socket.on("error", () => done("closed"));
            socket.on("close", () => done("closed"));
          });
        assert.equal(
          await attempt(true),
          0,
          "accepted with a certificate (its CN stands in for the user name)",
        );
        assert.equal(await attempt(false), "closed", "refused without one");
      });
      await t.step("WebSocket subprotocol lists without spaces are understood [MQTT-6.0.0-4]", async () => {
        const socket = new WebSocket(`ws://127.0.0.1:${ws}/mqtt`, ["mqttv3.1", "mqtt"]);
        await new Promise((resolve, reject) => (socket.onopen = resolve, socket.onerror = reject));
        assert.equal(socket.protocol, "mqtt");
        socket.close();
        const raw = await fetch(`http://127.0.0.1:${ws}/mqtt`, {
          headers: {
            upgrade: "websocket",
            connection: "Upgrade",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
            "sec-websocket-version": "13",
            "sec-websocket-protocol": "mqttv3.1,mqtt",
          },
        });
        assert.equal(raw.status, 101);
        assert.equal(raw.headers.get("sec-websocket-protocol"), "mqtt");
        await raw.body?.cancel();
        const none = await fetch(`http://127.0.0.1:${ws}/mqtt`, {
          headers: {
            upgrade: "websocket",
            connection: "Upgrade",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
            "sec-websocket-version": "13",
            "sec-websocket-protocol": "chat",
          },
        });
        assert.equal(none.status, 400);
        await none.body?.cancel();
      });
      await t.step("a text WebSocket frame closes the connection [MQTT-6.0.0-1]", async () => {
        const socket = new WebSocket(`ws://127.0.0.1:${ws}/mqtt`, "mqtt");
        await new Promise((resolve) => socket.onopen = resolve);
        const closed = new Promise((resolve) => socket.onclose = resolve);
        socket.send("not binary");
        await closed;
      });
      await t.step(
        "packets split across WebSocket messages and packed together both work [MQTT-6.0.0-2]",
        async () => {
          const socket = new WebSocket(`ws://127.0.0.1:${ws}/mqtt`, "mqtt");
          socket.binaryType = "arraybuffer";
          await new Promise((resolve) => socket.onopen = resolve);
          const replies: number[] = [];
          const done = new Promise<void>((resolve) =>
            socket.onmessage = (e) => {
              replies.push(...new Uint8Array(e.data as ArrayBuffer));
              if (replies.length >= 8) resolve();
            }
          );
          const connect = rawConnect("w");
          socket.send(new Uint8Array(connect.slice(0, 6)));
          socket.send(new Uint8Array([...connect.slice(6), 0xc0, 0x00, 0xc0, 0x00]));
          await done;
          assert.deepEqual(replies, [0x20, 0x02, 0x00, 0x00, 0xd0, 0x00, 0xd0, 0x00]);
          socket.close();
        },
      );
      if (await hasCommand("mosquitto_pub")) {
        await t.step("mosquitto_pub and mosquitto_sub over TLS", async () => {
          const sub = new Deno.Command("mosquitto_sub", {
            args: [
              "-h",
              "localhost",
              "-p",
              `${tls}`,
              "--cafile",
              certs.caCert,
              "-t",
              "lt/tls",
              "-C",
              "1",
              "-W",
              "8",
              "-q",
              "1",
            ],
            stdout: "piped",
          }).spawn();
          await new Promise((r) => setTimeout(r, 500));
          const pub = await run("mosquitto_pub", [
            "-h",
            "localhost",
            "-p",
            `${tls}`,
            "--cafile",
            certs.caCert,
            "-t",
            "lt/tls",
            "-m",
            "secure",
            "-q",
            "1",
          ]);
          assert.equal(pub.code, 0, pub.stderr);
          assert.equal(new TextDecoder().decode((await sub.output()).stdout).trim(), "secure");
        });
      }
      await t.step(
        // Nagle's algorithm with delayed ACKs holds each small reply ~40 ms: every CONNACK would be late.
        // The median, not the maximum, so that one slow sample on a busy CI machine does not fail it.
        "CONNACK over TLS arrives without Nagle delay (median under 20 ms after the handshake)",
        async () => {
          const { connect } = await import("node:tls");
          const times: number[] = [];
          for (let i = 0; i < 20; i++) {
            const socket = connect({ host: "127.0.0.1", port: tls, ca, servername: "localhost" });
            await new Promise((resolve) => socket.once("secureConnect", resolve));
            const start = performance.now();
            socket.write(
              Buffer.from(rawConnect("l")),
            );
            await new Promise((resolve) => socket.once("data", resolve));
            times.push(performance.now() - start);
            socket.destroy();
          }
          times.sort((a, b) => a - b);
          const median = times[10];
          console.log(`CONNACK over TLS: p50 ${median.toFixed(2)} ms, max ${times[19].toFixed(2)} ms`);
          assert.ok(median < 20, `median ${median} ms`);
        },
      );
    } finally {
      await broker.stop();
      await Deno.remove(certs.dir, { recursive: true });
    }
  },
});
