/**
 * A bridge from this broker to a real Mosquitto started by the test: messages
 * both ways with no echo (v5 No Local, 3.1.1 bridge bit), and every QoS 1
 * message published while Mosquitto is down delivered once it is back.
 * Skipped with a message when `mosquitto` is not installed.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { bridgesConnected, collect, serverFrom, settle } from "../_helpers/bridge_fixtures.ts";
import { waitFor } from "../_helpers/wait_for.ts";
import { mosquittoAvailable, startMosquitto } from "../_helpers/mosquitto.ts";

if (!mosquittoAvailable) console.warn("skipping bridge interop tests: mosquitto is not installed");

const fast = "reconnect_min_ms: 50, reconnect_max_ms: 300";

/** An mqtt.js client on Mosquitto collecting "topic payload" lines of what it receives. */
async function mosquittoClient(port: number, options: mqtt.IClientOptions = {}) {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...options,
  });
  const lines: string[] = [];
  // Attached before the CONNACK: a resumed session's queued messages may arrive in the same read.
  client.on("message", (topic, payload) => lines.push(`${topic} ${payload.toString()}`));
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => resolve());
    client.once("error", reject);
  });
  return { client, lines };
}

for (const protocol of ["mqttv5", "mqttv311"]) {
  Deno.test({
    name: `a bridge to Mosquitto (${protocol}) carries messages out and in, each exactly once`,
    ignore: !mosquittoAvailable,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const mosquitto = await startMosquitto();
      const broker = await serverFrom(`bridges:
  - { name: mosq, address: "127.0.0.1:${mosquitto.port}", protocol: ${protocol}, ${fast},
      topics: [{ pattern: "mq/#", direction: both, qos: 1 }] }
listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]
`);
      const local = collect(broker.broker, "mq/#");
      const remote = await mosquittoClient(mosquitto.port);
      try {
        await remote.client.subscribeAsync("mq/#", { qos: 1 });
        await bridgesConnected(broker);
        await broker.broker.publish({ topic: "mq/out", payload: "from deno", qos: 1 });
        await remote.client.publishAsync("mq/in", "from mosquitto", { qos: 1 });
        await waitFor(
          "both messages on both sides",
          () => remote.lines.length >= 2 && local.lines.length >= 2,
        );
        await settle(400);
        assert.deepEqual(remote.lines.sort(), ["mq/in from mosquitto", "mq/out from deno"]);
        assert.deepEqual(local.lines.sort(), ["mq/in from mosquitto", "mq/out from deno"]);
      } finally {
        await remote.client.endAsync();
        await local.stop();
        await broker.close();
        await mosquitto.stop();
      }
    },
  });
}

Deno.test({
  name: "QoS 1 messages published while Mosquitto is down all arrive after it restarts on the same port",
  ignore: !mosquittoAvailable,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    let mosquitto = await startMosquitto({ persistence: true });
    const { port, dir } = mosquitto;
    const broker = await serverFrom(`bridges:
  - { name: mosq, address: "127.0.0.1:${port}", ${fast},
      topics: [{ pattern: "rs/#", direction: out, qos: 1 }] }
listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]
`);
    // A persistent subscriber on Mosquitto, offline while the messages travel.
    const keeper = { clientId: "keeper", clean: false, protocolVersion: 4 as const };
    const first = await mosquittoClient(port, keeper);
    await first.client.subscribeAsync("rs/#", { qos: 1 });
    await first.client.endAsync();
    let reader: Awaited<ReturnType<typeof mosquittoClient>> | undefined;
    try {
      await bridgesConnected(broker);
      await mosquitto.stop();
      await waitFor("the bridge to see Mosquitto gone", () => !broker.bridges()[0].connected);
      const sent = Array.from({ length: 20 }, (_, i) => `rs/${i} m${i}`);
      for (let i = 0; i < 20; i++) {
        await broker.broker.publish({ topic: `rs/${i}`, payload: `m${i}`, qos: 1 });
      }
      assert.equal(broker.bridges()[0].queued, 20);
      mosquitto = await startMosquitto({ port, dir, persistence: true });
      await bridgesConnected(broker, 10_000);
      await waitFor("the bridge queue to drain", () => broker.bridges()[0].queued === 0);
      reader = await mosquittoClient(port, keeper);
      await waitFor("every message at the subscriber", () => reader!.lines.length >= 20);
      await settle(200);
      assert.deepEqual(reader.lines, sent);
      assert.equal(broker.bridges()[0].messagesOut, 20);
    } finally {
      await reader?.client.endAsync();
      await broker.close();
      await mosquitto.stop();
    }
  },
});

Deno.test({
  name: "a Mosquitto 3.1.1 bridge into this broker (bridge bit) gets nothing back of what it forwarded",
  ignore: !mosquittoAvailable,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const broker = await serverFrom("listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]\n");
    const mosquitto = await startMosquitto({
      extra: [
        "connection deno",
        `address 127.0.0.1:${broker.listeners[0].port}`,
        "topic mb/# both 1",
        "bridge_protocol_version mqttv311",
        "try_private true",
        "cleansession true",
        "restart_timeout 1",
      ],
    });
    const local = collect(broker.broker, "mb/#");
    const remote = await mosquittoClient(mosquitto.port);
    try {
      await remote.client.subscribeAsync("mb/#", { qos: 1 });
      await waitFor(
        "Mosquitto's bridge to subscribe here",
        () => broker.broker.admin.sizes().subscriptions >= 2,
      );
      const bridged = broker.broker.admin.clients().find((c) => c.clientId.endsWith(".deno"));
      assert.equal(bridged?.bridge, true);
      await broker.broker.publish({ topic: "mb/here", payload: "from deno", qos: 1 });
      await remote.client.publishAsync("mb/there", "from mosquitto", { qos: 1 });
      await waitFor("both messages on both sides", () => remote.lines.length >= 2 && local.lines.length >= 2);
      await settle(400);
      assert.deepEqual(remote.lines.sort(), ["mb/here from deno", "mb/there from mosquitto"]);
      assert.deepEqual(local.lines.sort(), ["mb/here from deno", "mb/there from mosquitto"]);
    } finally {
      await remote.client.endAsync();
      await local.stop();
      await mosquitto.stop();
      await broker.close();
    }
  },
});
