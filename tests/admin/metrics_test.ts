import assert from "node:assert/strict";
import { renderMetrics } from "../../src/admin/metrics.ts";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { PacketType } from "../../src/protocol/packet.ts";
import { sample } from "../_helpers/prometheus.ts";
import { fakePeers } from "../_helpers/fake_peers.ts";
import { TestClient } from "../_helpers/test_client.ts";

Deno.test("metrics count connections by listener and level, packets by type, and drops by reason", async () => {
  const broker = new Engine({ clock: new ManualClock(), limits: { maxQueuedMessages: 1 } });
  const sub = await TestClient.connect(broker, {
    clientId: "s",
    protocolLevel: 5,
    properties: { sessionExpiryInterval: 60 },
  });
  await sub.client.subscribe("m", 1);
  const pub = await TestClient.connect(broker, { clientId: "p" });
  pub.client.publish("m", "1", { qos: 1 });
  await pub.client.expect(PacketType.PUBACK);
  await sub.client.expect(PacketType.PUBLISH);
  const text = renderMetrics(broker.admin);
  const listener = "memory";
  assert.equal(sample(text, `mqtt_connections{listener="${listener}",protocol="5"}`), 1);
  assert.equal(sample(text, `mqtt_connections{listener="${listener}",protocol="4"}`), 1);
  assert.equal(sample(text, 'mqtt_packets_received_total{type="connect"}'), 2);
  assert.equal(sample(text, 'mqtt_packets_received_total{type="publish"}'), 1);
  assert.equal(sample(text, 'mqtt_packets_sent_total{type="puback"}'), 1);
  assert.equal(sample(text, 'mqtt_packets_sent_total{type="publish"}'), 1);
  assert.ok(sample(text, 'mqtt_bytes_received_total{type="publish"}')! >= 6);
  assert.ok(sample(text, 'mqtt_bytes_sent_total{type="publish"}')! >= 6);
  assert.equal(sample(text, 'mqtt_bytes_sent_total{type="puback"}'), 4);
  assert.equal(sample(text, "mqtt_messages_inflight"), 1);
  assert.equal(sample(text, "mqtt_subscriptions"), 1);

  sub.client.disconnect();
  await sub.client.closedByBroker();
  for (const n of ["2", "3"]) {
    pub.client.publish("m", n, { qos: 1 });
    await pub.client.expect(PacketType.PUBACK);
  }
  const after = renderMetrics(broker.admin);
  assert.equal(sample(after, 'mqtt_messages_dropped_total{reason="queue_full"}'), 1);
  assert.equal(sample(after, "mqtt_messages_queued"), 1);
});

Deno.test("metric labels never carry client ids or topics: the series count does not grow with clients", async () => {
  const broker = new Engine({ clock: new ManualClock() });
  const series = () => renderMetrics(broker.admin).split("\n").filter((l) => l !== "" && !l.startsWith("#"));
  const first = await TestClient.connect(broker, { clientId: "client-first" });
  first.client.publish("topic/first", "x");
  const before = series().length;
  for (let i = 0; i < 20; i++) {
    const c = await TestClient.connect(broker, { clientId: `client-${i}` });
    c.client.publish(`topic/${i}`, "x");
  }
  const text = renderMetrics(broker.admin);
  assert.doesNotMatch(text, /client-\d|client-first|topic\//);
  assert.equal(series().length, before);
});

Deno.test({
  name: "the store commit histogram counts durable commits",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { KvStore } = await import("../../src/persistence/kv_store.ts");
    const dir = await Deno.makeTempDir();
    const store = new KvStore({ path: `${dir}/m.kv` });
    const broker = new Engine({ clock: new ManualClock(), store });
    await broker.start();
    const c = await TestClient.connect(broker, { clientId: "d", clean: false });
    await c.client.subscribe("x", 1);
    const text = renderMetrics(broker.admin);
    await broker.close();
    await Deno.remove(dir, { recursive: true });
    assert.ok(sample(text, "mqtt_store_commit_seconds_count")! >= 1);
    assert.equal(
      sample(text, 'mqtt_store_commit_seconds_bucket{le="+Inf"}'),
      sample(text, "mqtt_store_commit_seconds_count"),
    );
  },
});

Deno.test("metrics report each bridge: connected, messages in and out, queued, reconnects", () => {
  const broker = new Engine({ clock: new ManualClock() });
  const bridges = [
    { name: "hq", connected: true, messagesIn: 3, messagesOut: 5, reconnects: 1, queued: 0 },
    { name: "cloud", connected: false, messagesIn: 0, messagesOut: 2, reconnects: 4, queued: 7 },
  ];
  const text = renderMetrics(broker.admin, { bridges });
  assert.equal(sample(text, 'mqtt_bridge_connected{bridge="hq"}'), 1);
  assert.equal(sample(text, 'mqtt_bridge_connected{bridge="cloud"}'), 0);
  assert.equal(sample(text, 'mqtt_bridge_messages_total{bridge="hq",direction="in"}'), 3);
  assert.equal(sample(text, 'mqtt_bridge_messages_total{bridge="hq",direction="out"}'), 5);
  assert.equal(sample(text, 'mqtt_bridge_queued_messages{bridge="cloud"}'), 7);
  assert.equal(sample(text, 'mqtt_bridge_reconnects_total{bridge="cloud"}'), 4);
  assert.ok(!renderMetrics(broker.admin).includes("mqtt_bridge_"), "bridge families without bridges");
});

Deno.test("metrics report a cluster node's NATS connection: connected, disconnects, reconnects, retries", () => {
  const broker = new Engine({ clock: new ManualClock() });
  assert.ok(!renderMetrics(broker.admin).includes("mqtt_cluster_"), "cluster families outside cluster mode");
  broker.attachPeers(
    fakePeers({
      status: () => ({ connected: false, disconnects: 2, reconnects: 1, retries: 9 }),
    }).link,
  );
  const text = renderMetrics(broker.admin);
  assert.equal(sample(text, "mqtt_cluster_nats_connected"), 0);
  assert.equal(sample(text, "mqtt_cluster_nats_disconnects_total"), 2);
  assert.equal(sample(text, "mqtt_cluster_nats_reconnects_total"), 1);
  assert.equal(sample(text, "mqtt_cluster_retries_total"), 9);
});
