/**
 * Two broker processes (main.ts) bridged by configuration, with clients on
 * each: a "both" rule carries every message exactly once each way.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { startBroker } from "../_helpers/broker_process.ts";
import { settle } from "../_helpers/bridge_fixtures.ts";
import { waitFor } from "../_helpers/wait_for.ts";

/** An mqtt.js client collecting "topic payload" lines, subscribed before it returns. */
async function client(port: number, filter: string) {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000 });
  const lines: string[] = [];
  c.on("message", (topic, payload) => lines.push(`${topic} ${payload.toString()}`));
  await c.subscribeAsync(filter, { qos: 1 });
  return { client: c, lines };
}

Deno.test({
  name: "two broker processes bridged with a both rule deliver each message exactly once on each side",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startBroker();
    const edge = await startBroker({
      yaml: `persistence: { type: memory }
bridges:
  - { name: hub, address: "127.0.0.1:${hub.port}", reconnect_min_ms: 50, reconnect_max_ms: 300,
      topics: [{ pattern: "pp/#", direction: both, qos: 1 }] }
`,
    });
    const atHub = await client(hub.port, "pp/#");
    const atEdge = await client(edge.port, "pp/#");
    try {
      // The bridge's subscription on the hub is in place once a message from the hub crosses.
      await waitFor("the bridge to carry a first message", () => {
        atHub.client.publish("pp/probe", "probe", { qos: 1 });
        return atEdge.lines.some((l) => l.startsWith("pp/probe"));
      }, 10_000);
      await settle(300);
      atHub.lines.length = 0;
      atEdge.lines.length = 0;
      await atHub.client.publishAsync("pp/from-hub", "1", { qos: 1 });
      await atEdge.client.publishAsync("pp/from-edge", "2", { qos: 1 });
      await waitFor("both messages on both sides", () => atHub.lines.length >= 2 && atEdge.lines.length >= 2);
      await settle(400);
      assert.deepEqual(atHub.lines.sort(), ["pp/from-edge 2", "pp/from-hub 1"]);
      assert.deepEqual(atEdge.lines.sort(), ["pp/from-edge 2", "pp/from-hub 1"]);
    } finally {
      await atHub.client.endAsync();
      await atEdge.client.endAsync();
      await edge.stop();
      await hub.stop();
    }
  },
});
