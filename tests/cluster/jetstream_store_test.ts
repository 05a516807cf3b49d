import assert from "node:assert/strict";
import { ClusterNode } from "../../src/cluster/cluster.ts";
import { decodeRetained } from "../../src/cluster/jetstream_store.ts";
import type { StoredMessage } from "../../src/persistence/store.ts";
import { hasNatsServer, startNatsCluster } from "../_helpers/nats_cluster.ts";

const ignore = !hasNatsServer("the JetStream store test");
const encoder = new TextEncoder();

const message = (topic: string, text: string): StoredMessage => ({
  topic,
  payload: encoder.encode(text),
  qos: 1,
  retain: false,
});

Deno.test({
  name: "the JetStream store keeps sessions and retained messages in shared KV buckets",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const nats = await startNatsCluster(1);
    const node = await ClusterNode.connect({ servers: nats.urls, nodeId: "store-test" });
    const store = node.store;
    const clientId = "a client.with*odd>id";
    try {
      await t.step(
        "a session with subscriptions, queue and inbound ids loads back by client id",
        async () => {
          await store.commit([
            { kind: "putSession", session: { clientId, protocolLevel: 5, expiryInterval: 300 } },
            {
              kind: "putSubscription",
              clientId,
              subscription: {
                filter: "a/+/#",
                qos: 2,
                noLocal: false,
                retainAsPublished: true,
                retainHandling: 1,
              },
            },
            {
              kind: "putOutbound",
              clientId,
              entry: { seq: 2, packetId: 9, phase: "pubrel", qos: 2, message: message("a/x", "two") },
            },
            {
              kind: "putOutbound",
              clientId,
              entry: { seq: 1, packetId: 0, phase: "publish", qos: 1, message: message("a/y", "one") },
            },
            { kind: "putInbound", clientId, packetId: 12 },
          ]);
          const loaded = await store.loadSession(clientId);
          assert.equal(loaded?.session.expiryInterval, 300);
          assert.deepEqual(loaded?.subscriptions.map((s) => s.filter), ["a/+/#"]);
          assert.deepEqual(
            loaded?.outbound.map((e) => [e.seq, new TextDecoder().decode(e.message.payload)]),
            [
              [1, "one"],
              [2, "two"],
            ],
          );
          assert.deepEqual(loaded?.inbound, [12]);
        },
      );

      await t.step("load() returns no sessions: each is claimed when its client connects", async () => {
        assert.deepEqual((await store.load()).sessions, []);
      });

      await t.step(
        "deleting a session removes everything it owns, even puts earlier in the same commit",
        async () => {
          await store.commit([
            {
              kind: "putSubscription",
              clientId,
              subscription: {
                filter: "late",
                qos: 0,
                noLocal: false,
                retainAsPublished: false,
                retainHandling: 0,
              },
            },
            { kind: "deleteSession", clientId },
          ]);
          assert.equal(await store.loadSession(clientId), undefined);
          await store.commit([{
            kind: "putSession",
            session: { clientId, protocolLevel: 4, expiryInterval: 1 },
          }]);
          const fresh = await store.loadSession(clientId);
          assert.deepEqual([fresh?.subscriptions, fresh?.outbound, fresh?.inbound], [[], [], []]);
        },
      );

      await t.step(
        "retained messages are keyed by escaped topic and deleted by an empty retain",
        async () => {
          const kv = await node.js.views.kv("mqtt_retained");
          await store.commit([{
            kind: "putRetained",
            message: { ...message("r/a.b/ c", "kept"), retain: true },
          }]);
          const entry = await kv.get("r.a_2Eb._20c");
          assert.equal(new TextDecoder().decode(decodeRetained(entry!.value).payload), "kept");
          await store.commit([{ kind: "deleteRetained", topic: "r/a.b/ c" }]);
          assert.notEqual((await kv.get("r.a_2Eb._20c"))?.operation, "PUT");
        },
      );

      await t.step("retained $SYS messages stay with their node and are not shared", async () => {
        const kv = await node.js.views.kv("mqtt_retained");
        const uptime = { ...message("$SYS/broker/uptime", "1"), retain: true };
        await store.commit([{ kind: "putRetained", message: uptime }]);
        assert.equal(await kv.get("_24SYS.broker.uptime"), null);
      });
    } finally {
      await store.close();
      await node.close();
      await nats.stop();
    }
  },
});
