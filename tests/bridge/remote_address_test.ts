/**
 * The bridge reaches remote brokers over every transport: tcp, tls (with a CA
 * and a client certificate), ws and wss. The remote is this broker's own
 * listener of that type.
 */
import assert from "node:assert/strict";
import { MqttClient } from "../../src/bridge/mqtt_client.ts";
import { openRemote, withTimeout } from "../../src/bridge/remote_address.ts";
import { parseConfig } from "../../src/config/load_config.ts";
import type { BridgeConfig } from "../../src/config/schema.ts";
import { Broker, type Socket } from "../../src/mod.ts";
import { collect } from "../_helpers/bridge_fixtures.ts";
import { waitFor } from "../_helpers/wait_for.ts";
import { makeCerts, opensslAvailable } from "../_helpers/certs.ts";
import { memorySocketPair } from "../_helpers/memory_socket.ts";

/** A bridge configuration with every default, as the configuration loader fills it in. */
function bridgeConfig(yaml: string): BridgeConfig {
  const text = `bridges:\n  - { name: t, topics: [{ pattern: "#" }], ${yaml} }\n`;
  return parseConfig(text, "test.yaml", { checkFiles: false, env: {} }).bridges[0];
}

/** Connects over `config` and publishes one message that the broker routes to `seen`. */
async function roundTrip(broker: Broker, config: BridgeConfig): Promise<string[]> {
  const seen = collect(broker, "rt/#");
  const { client } = await MqttClient.connect(await openRemote(config), {
    protocolName: "MQTT",
    protocolLevel: 5,
    clean: true,
    keepAlive: 30,
    clientId: `rt-${config.transport}`,
  }, { onMessage: () => {} });
  await client.publish({
    topic: `rt/${config.transport}`,
    payload: new Uint8Array([1]),
    qos: 1,
    retain: false,
  });
  await waitFor("the message", () => seen.lines.length === 1);
  client.disconnect();
  await seen.stop();
  return seen.lines.map((l) => l.split(" ")[0]);
}

Deno.test({
  name: "the bridge connects over tcp, tls with a client certificate, ws and wss",
  ignore: !opensslAvailable,
  async fn() {
    const certs = await makeCerts();
    const broker = new Broker();
    await broker.start();
    try {
      const tcp = await broker.listen({ type: "tcp", host: "127.0.0.1", port: 0 });
      const tls = await broker.listen({
        type: "tls",
        host: "127.0.0.1",
        port: 0,
        cert_file: certs.serverCert,
        key_file: certs.serverKey,
        ca_file: certs.caCert,
        require_certificate: true,
      });
      const ws = await broker.listen({ type: "ws", host: "127.0.0.1", port: 0, path: "/mqtt" });
      const wss = await broker.listen({
        type: "wss",
        host: "127.0.0.1",
        port: 0,
        path: "/mqtt",
        cert_file: certs.serverCert,
        key_file: certs.serverKey,
      });
      const trust = `ca_file: ${certs.caCert}`;
      const client = `cert_file: ${certs.clientCert}, key_file: ${certs.clientKey}`;
      assert.deepEqual(await roundTrip(broker, bridgeConfig(`address: "127.0.0.1:${tcp.port}"`)), ["rt/tcp"]);
      assert.deepEqual(
        await roundTrip(
          broker,
          bridgeConfig(`address: "localhost:${tls.port}", transport: tls, ${trust}, ${client}`),
        ),
        ["rt/tls"],
      );
      assert.deepEqual(
        await roundTrip(broker, bridgeConfig(`address: "127.0.0.1:${ws.port}", transport: ws`)),
        ["rt/ws"],
      );
      assert.deepEqual(
        await roundTrip(broker, bridgeConfig(`address: "localhost:${wss.port}", transport: wss, ${trust}`)),
        ["rt/wss"],
      );
    } finally {
      await broker.close();
    }
  },
});

Deno.test({
  name: "a tls bridge without the client certificate the remote requires cannot connect",
  ignore: !opensslAvailable,
  async fn() {
    const certs = await makeCerts();
    const broker = new Broker();
    await broker.start();
    try {
      const tls = await broker.listen({
        type: "tls",
        host: "127.0.0.1",
        port: 0,
        cert_file: certs.serverCert,
        key_file: certs.serverKey,
        ca_file: certs.caCert,
        require_certificate: true,
      });
      const config = bridgeConfig(
        `address: "localhost:${tls.port}", transport: tls, ca_file: ${certs.caCert}`,
      );
      await assert.rejects(async () => {
        const { client } = await MqttClient.connect(await openRemote(config), {
          protocolName: "MQTT",
          protocolLevel: 5,
          clean: true,
          keepAlive: 0,
          clientId: "no-cert",
        }, { onMessage: () => {}, replyTimeoutMs: 2000 });
        client.disconnect();
      });
    } finally {
      await broker.close();
    }
  },
});

Deno.test("a connection that does not open in time is given up, and closed if it opens later", async () => {
  const { socket } = memorySocketPair();
  let open!: () => void;
  const late = new Promise<Socket>((resolve) => open = () => resolve(socket));
  await assert.rejects(withTimeout(late, 20), /no connection within 20 ms/);
  open();
  await socket.closed;
});
