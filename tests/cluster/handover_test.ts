/**
 * Session handover between two broker nodes in this process, on one nats-server: a node
 * stops (its NATS connection closes without letting its sessions go) and the other adopts
 * its sessions, caught up on what the stream carried meanwhile.
 */
import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import { Broker } from "../../src/broker/broker.ts";
import { ClusterNode } from "../../src/cluster/cluster.ts";
import { TestClient } from "../_helpers/test_client.ts";
import { hasNatsServer, startNatsCluster } from "../_helpers/nats_cluster.ts";

const ignore = !hasNatsServer("the handover test");

async function waitUntil(what: string, done: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A broker joined to the cluster, with fast heartbeats so that a stopped node is noticed soon. */
async function node(servers: string[], id: string, maxQueuedMessages = 1000) {
  const cluster = await ClusterNode.connect({ servers, nodeId: id, heartbeatMs: 200, deadAfterMs: 1000 });
  const broker = new Broker({ store: cluster.store, limits: { maxQueuedMessages } });
  await broker.start();
  await cluster.join(broker, getLogger(["mqtt", "cluster", id]));
  return { cluster, broker };
}

Deno.test({
  name: "what an adopted session missed counts against max_queued_messages, and the rest as queue_full",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const nats = await startNatsCluster(1);
    const a = await node(nats.urls, "a");
    const b = await node(nats.urls, "b", 10);
    try {
      const { client } = await TestClient.connect(a.broker, { clientId: "late", clean: false });
      await client.subscribe("cap/#", 1);
      client.disconnect();
      await waitUntil("the session to be offline", () => a.broker.sessions.get("late")?.link === null);
      // Node a stops: no takeover, no release; its heartbeat ages.
      await a.cluster.close();
      for (let i = 0; i < 30; i++) await b.broker.publish({ topic: "cap/x", payload: String(i), qos: 1 });
      const held = () => b.broker.sessions.get("late")?.queue.length ?? 0;
      await waitUntil("node b to adopt the session", () => held() + b.broker.stats.dropped.queue_full >= 30);
      assert.equal(held(), 10);
      assert.equal(b.broker.stats.dropped.queue_full, 20);
      const kept = b.broker.sessions.get("late")!.queue.map((e) =>
        new TextDecoder().decode(e.message.payload)
      );
      assert.deepEqual(kept, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    } finally {
      await a.broker.close();
      await b.broker.close();
      await b.cluster.close();
      await nats.stop();
    }
  },
});
