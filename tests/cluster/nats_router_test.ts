import assert from "node:assert/strict";
import { Broker } from "../../src/public_broker.ts";
import { ClusterNode } from "../../src/cluster/cluster.ts";
import type { ReceivedMessage } from "../../src/broker/local_subscription.ts";
import { hasNatsServer, startNatsCluster } from "../_helpers/nats_cluster.ts";

const ignore = !hasNatsServer("the NATS router test");

/** Collects what an in-process subscription receives. */
function collect(stream: ReadableStream<ReceivedMessage>): { topics: string[]; stop(): Promise<void> } {
  const topics: string[] = [];
  const reader = stream.getReader();
  (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done || value === undefined) return;
      topics.push(value.topic);
    }
  })();
  return { topics, stop: () => reader.cancel() };
}

const settle = () => new Promise((r) => setTimeout(r, 150));

Deno.test({
  name: "the NATS router subscribes per filter with reference counts and delivers each message once",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const nats = await startNatsCluster(1);
    const nodes = await Promise.all(
      ["a", "b"].map((id) => ClusterNode.connect({ servers: nats.urls, nodeId: id, heartbeatMs: 60_000 })),
    );
    const brokers = nodes.map((n) => new Broker({ store: n.store }));
    try {
      for (let i = 0; i < 2; i++) {
        await brokers[i].start();
        await nodes[i].join(brokers[i]);
      }

      await t.step(
        "filters sharing a subject share one NATS subscription until the last one goes",
        async () => {
          const before = nodes[1].natsSubscriptions;
          const exact = collect(brokers[1].subscribe("rc/x"));
          const tree = collect(brokers[1].subscribe("rc/x/#"));
          // rc/x/# needs rc.x.> and rc.x; rc.x is already held for rc/x.
          assert.equal(nodes[1].natsSubscriptions, before + 2);
          await exact.stop();
          assert.equal(nodes[1].natsSubscriptions, before + 2);
          await tree.stop();
          assert.equal(nodes[1].natsSubscriptions, before);
        },
      );

      await t.step(
        "a subscriber on another node gets one copy although two of its node's subscriptions match",
        async () => {
          const wide = collect(brokers[1].subscribe("once/#"));
          const narrow = collect(brokers[1].subscribe("once/+"));
          await settle();
          await brokers[0].publish({ topic: "once/1", payload: "x", qos: 1 });
          await settle();
          assert.deepEqual([wide.topics, narrow.topics], [["once/1"], ["once/1"]]);
          await wide.stop();
          await narrow.stop();
        },
      );

      await t.step(
        "the publishing node delivers to its own subscribers once and skips the echo from NATS",
        async () => {
          const local = collect(brokers[0].subscribe("echo/#"));
          await settle();
          await brokers[0].publish({ topic: "echo/1", payload: "x" });
          await brokers[0].publish({ topic: "echo/2", payload: "x", qos: 2 });
          await settle();
          assert.deepEqual(local.topics, ["echo/1", "echo/2"]);
          await local.stop();
        },
      );

      await t.step("$ topics stay on the node that published them", async () => {
        const remote = collect(brokers[1].subscribe("$SYS/#"));
        await settle();
        await brokers[0].publish({ topic: "$SYS/x", payload: "x" });
        await settle();
        assert.deepEqual(remote.topics, []);
        await remote.stop();
      });
    } finally {
      for (const b of brokers) await b.close();
      for (const n of nodes) await n.close();
      await nats.stop();
    }
  },
});
