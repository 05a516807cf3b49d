/**
 * The real broker process against mqtt.js, the reference client, over TCP,
 * in protocol versions 3.1.1 and 5.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { startBroker } from "../_helpers/broker_process.ts";

type Client = mqtt.MqttClient;

function nextMessage(
  client: Client,
  timeoutMs = 5000,
): Promise<{ topic: string; payload: string; packet: mqtt.IPublishPacket }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no message")), timeoutMs);
    client.once("message", (topic, payload, packet) => {
      clearTimeout(timer);
      resolve({ topic, payload: payload.toString(), packet });
    });
  });
}

Deno.test({
  name: "mqtt.js interoperates with the broker over TCP (3.1.1 and 5)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const broker = await startBroker();
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const clients: Client[] = [];
    const connect = async (options: mqtt.IClientOptions) => {
      const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
      clients.push(client);
      return client;
    };
    try {
      for (const protocolVersion of [4, 5] as const) {
        await t.step(`v${protocolVersion}: QoS 0, 1 and 2 messages reach a subscriber`, async () => {
          const sub = await connect({ protocolVersion, clientId: `sub-${protocolVersion}` });
          const pub = await connect({ protocolVersion, clientId: `pub-${protocolVersion}` });
          await sub.subscribeAsync(`it/${protocolVersion}/#`, { qos: 2 });
          for (const qos of [0, 1, 2] as const) {
            const received = nextMessage(sub);
            await pub.publishAsync(`it/${protocolVersion}/q${qos}`, `m${qos}`, { qos });
            const msg = await received;
            assert.equal(msg.topic, `it/${protocolVersion}/q${qos}`);
            assert.equal(msg.payload, `m${qos}`);
            assert.equal(msg.packet.qos, qos);
          }
        });
      }

      await t.step("a retained message is delivered to a later subscriber with the retain flag", async () => {
        const pub = await connect({ protocolVersion: 4, clientId: "ret-pub" });
        await pub.publishAsync("it/retained", "kept", { qos: 1, retain: true });
        const sub = await connect({ protocolVersion: 5, clientId: "ret-sub" });
        const received = nextMessage(sub);
        await sub.subscribeAsync("it/retained", { qos: 1 });
        const msg = await received;
        assert.equal(msg.payload, "kept");
        assert.equal(msg.packet.retain, true);
      });

      await t.step("v5 properties and subscription identifiers round trip", async () => {
        const sub = await connect({ protocolVersion: 5, clientId: "props-sub" });
        await sub.subscribeAsync("it/props", { qos: 1, properties: { subscriptionIdentifier: 12 } });
        const pub = await connect({ protocolVersion: 5, clientId: "props-pub" });
        const received = nextMessage(sub);
        await pub.publishAsync("it/props", "p", {
          qos: 1,
          properties: {
            userProperties: { a: "1" },
            contentType: "text/plain",
            responseTopic: "it/reply",
            correlationData: Buffer.from("c"),
          },
        });
        const { packet } = await received;
        assert.equal(packet.properties?.contentType, "text/plain");
        assert.equal(packet.properties?.responseTopic, "it/reply");
        assert.deepEqual({ ...packet.properties?.userProperties }, { a: "1" });
        assert.equal(packet.properties?.correlationData?.toString(), "c");
        const ids = packet.properties?.subscriptionIdentifier;
        assert.deepEqual(Array.isArray(ids) ? ids : [ids], [12]);
      });

      await t.step("the will is published when a client's connection breaks", async () => {
        const watcher = await connect({ protocolVersion: 4, clientId: "will-watch" });
        await watcher.subscribeAsync("it/will/#", { qos: 1 });
        const dying = await connect({
          protocolVersion: 5,
          clientId: "will-dying",
          will: { topic: "it/will/dying", payload: Buffer.from("gone"), qos: 1, retain: false },
        });
        const received = nextMessage(watcher);
        dying.stream.destroy();
        assert.equal((await received).payload, "gone");
      });

      await t.step("a persistent v5 session receives messages queued while it was offline", async () => {
        const options = {
          protocolVersion: 5 as const,
          clientId: "persist",
          clean: false,
          properties: { sessionExpiryInterval: 300 },
        };
        const first = await connect(options);
        await first.subscribeAsync("it/offline", { qos: 1 });
        await first.endAsync();
        const pub = await connect({ protocolVersion: 4, clientId: "offline-pub" });
        await pub.publishAsync("it/offline", "while away", { qos: 1 });
        const second = mqtt.connect(url, { reconnectPeriod: 0, ...options, manualConnect: true });
        clients.push(second);
        const received = nextMessage(second);
        second.connect();
        assert.equal((await received).payload, "while away");
      });
    } finally {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      await broker.stop();
    }
  },
});
