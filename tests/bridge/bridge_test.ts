/**
 * Bridges between two instances of this broker, in-process over TCP on
 * 127.0.0.1: both directions, prefixes, no loops, queuing while the remote is
 * down, and the $SYS state topic.
 */
import assert from "node:assert/strict";
import { Bridge } from "../../src/bridge/bridge.ts";
import { BridgeTrust } from "../../src/bridge/local_link.ts";
import { parseConfig } from "../../src/config/load_config.ts";
import { Broker } from "../../src/mod.ts";
import { engineOf } from "../../src/public_broker.ts";
import { PacketType } from "../../src/protocol/packet.ts";
import { startServer } from "../../src/server.ts";
import { ScriptedServer } from "../_helpers/scripted_server.ts";
import { TestClient } from "../_helpers/test_client.ts";
import { bridgesConnected, collect, serverFrom, settle } from "../_helpers/bridge_fixtures.ts";
import { waitFor } from "../_helpers/wait_for.ts";
import { freePort } from "../_helpers/broker_process.ts";

const fast = "reconnect_min_ms: 50, reconnect_max_ms: 200";

for (const protocol of ["mqttv5", "mqttv311"]) {
  Deno.test(`a "both" bridge (${protocol}) carries each message exactly once each way, with no loop back`, async () => {
    const hub = await serverFrom("listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]\n");
    const edge = await serverFrom(`listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]
bridges:
  - { name: hub, address: "127.0.0.1:${hub.listeners[0].port}", protocol: ${protocol}, ${fast},
      topics: [{ pattern: "b2b/#", direction: both, qos: 1 }] }
`);
    const atHub = collect(hub.broker, "b2b/#");
    const atEdge = collect(edge.broker, "b2b/#");
    try {
      await bridgesConnected(edge);
      await settle(100); // the remote SUBSCRIBE is acknowledged before "connected", but let both settle
      await hub.broker.publish({ topic: "b2b/from-hub", payload: "1", qos: 1 });
      await edge.broker.publish({ topic: "b2b/from-edge", payload: "2", qos: 1 });
      await waitFor(
        "both messages on both brokers",
        () => atHub.lines.length >= 2 && atEdge.lines.length >= 2,
      );
      await settle();
      assert.deepEqual(atHub.lines.sort(), ["b2b/from-edge 2", "b2b/from-hub 1"]);
      assert.deepEqual(atEdge.lines.sort(), ["b2b/from-edge 2", "b2b/from-hub 1"]);
      const [status] = edge.bridges();
      assert.equal(status.messagesIn, 1);
      assert.equal(status.messagesOut, 1);
    } finally {
      await atHub.stop();
      await atEdge.stop();
      await edge.close();
      await hub.close();
    }
  });
}

Deno.test("prefixes remap topics: local prefix + t on this side, remote prefix + t on the other", async () => {
  const hub = await serverFrom("listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]\n");
  const edge = await serverFrom(`listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]
bridges:
  - name: hub
    address: "127.0.0.1:${hub.listeners[0].port}"
    ${fast.replace(", ", "\n    ")}
    topics:
      - { pattern: "sensors/#", direction: out, qos: 1, local_prefix: "site/", remote_prefix: "hq/site1/" }
      - { pattern: "cmd/+", direction: in, qos: 1, local_prefix: "site/", remote_prefix: "hq/site1/" }
`);
  const atHub = collect(hub.broker, "#");
  const atEdge = collect(edge.broker, "site/#");
  try {
    await bridgesConnected(edge);
    await edge.broker.publish({ topic: "site/sensors/t1", payload: "21", qos: 1 });
    await edge.broker.publish({ topic: "site/other", payload: "not bridged", qos: 1 });
    await hub.broker.publish({ topic: "hq/site1/cmd/reboot", payload: "now", qos: 1 });
    await hub.broker.publish({ topic: "hq/site2/cmd/reboot", payload: "not ours", qos: 1 });
    await waitFor("the remapped messages", () => atHub.lines.includes("hq/site1/sensors/t1 21"));
    await waitFor("the command", () => atEdge.lines.includes("site/cmd/reboot now"));
    await settle(200);
    assert.ok(!atHub.lines.some((l) => l.includes("not bridged")));
    assert.ok(!atEdge.lines.some((l) => l.includes("not ours")));
  } finally {
    await atHub.stop();
    await atEdge.stop();
    await edge.close();
    await hub.close();
  }
});

/** A plain broker listening on `port`, with a collector attached before it accepts anyone. */
async function remoteOn(port: number, filter: string) {
  const broker = new Broker();
  await broker.start();
  const seen = collect(broker, filter);
  await broker.listen({ type: "tcp", host: "127.0.0.1", port });
  return { broker, seen };
}

Deno.test("QoS 1 messages published while the remote is down are queued and all delivered after it returns", async () => {
  const port = freePort();
  let remote = await remoteOn(port, "q/#");
  const edge = await serverFrom(`listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]
bridges:
  - { name: hub, address: "127.0.0.1:${port}", ${fast}, max_queued_messages: 50,
      topics: [{ pattern: "q/#", direction: out, qos: 1 }] }
`);
  const state = collect(edge.broker, "$SYS/broker/bridges/#");
  try {
    await bridgesConnected(edge);
    await edge.broker.publish({ topic: "q/before", payload: "0", qos: 1 });
    await waitFor("the first message", () => remote.seen.lines.length === 1);
    await remote.seen.stop();
    await remote.broker.close();
    await waitFor("the bridge to notice", () => !edge.bridges()[0].connected);
    for (let i = 1; i <= 5; i++) await edge.broker.publish({ topic: `q/${i}`, payload: `${i}`, qos: 1 });
    assert.equal(edge.bridges()[0].queued, 5);
    remote = await remoteOn(port, "q/#");
    await waitFor("the queued messages", () => remote.seen.lines.length === 5);
    assert.deepEqual(remote.seen.lines, ["q/1 1", "q/2 2", "q/3 3", "q/4 4", "q/5 5"]);
    await waitFor("the queue to drain", () => edge.bridges()[0].queued === 0);
    assert.ok(edge.bridges()[0].reconnects >= 1);
    assert.deepEqual(
      state.lines.filter((l) => l.startsWith("$SYS/broker/bridges/hub/state")).slice(0, 3),
      [
        "$SYS/broker/bridges/hub/state connected",
        "$SYS/broker/bridges/hub/state disconnected",
        "$SYS/broker/bridges/hub/state connected",
      ],
    );
  } finally {
    await state.stop();
    await remote.seen.stop();
    await edge.close();
    await remote.broker.close();
  }
});

Deno.test("a bridge's queue is bounded by max_queued_messages; /metrics and the API show it, not its password", async () => {
  const port = freePort(); // nothing listens: the remote is down from the start
  const edge = await serverFrom(`listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]
admin: { enabled: true, host: 127.0.0.1, port: 0 }
bridges:
  - { name: down, address: "127.0.0.1:${port}", ${fast}, max_queued_messages: 3, password: hidden,
      topics: [{ pattern: "bounded/#", direction: out, qos: 1 }] }
`);
  try {
    for (let i = 0; i < 5; i++) await edge.broker.publish({ topic: `bounded/${i}`, payload: "x", qos: 1 });
    assert.equal(edge.bridges()[0].queued, 3);
    assert.equal(edge.broker.admin.counters.dropped.queue_full, 2);
    const metrics = await (await fetch(`http://127.0.0.1:${edge.admin!.port}/metrics`)).text();
    assert.match(metrics, /^mqtt_bridge_queued_messages\{bridge="down"\} 3$/m);
    assert.match(metrics, /^mqtt_bridge_connected\{bridge="down"\} 0$/m);
    // The { total, offset, limit, items } envelope of every list endpoint.
    const listed = await (await fetch(`http://127.0.0.1:${edge.admin!.port}/api/v1/bridges`)).json();
    assert.deepEqual(listed, {
      total: 1,
      offset: 0,
      limit: 100,
      items: [{
        name: "down",
        connected: false,
        messagesIn: 0,
        messagesOut: 0,
        queued: 3,
        reconnects: listed.items[0].reconnects,
      }],
    });
    const config = await (await fetch(`http://127.0.0.1:${edge.admin!.port}/api/v1/config`)).json();
    assert.equal(config.bridges[0].password, "***");
  } finally {
    await edge.close();
  }
});

Deno.test("a 3.1.1 remote that refuses the bridge bit is retried without it, and its echoes are dropped", async () => {
  const servers: ScriptedServer[] = [];
  const config = parseConfig(
    `bridges:
  - { name: old, address: "127.0.0.1:1", protocol: mqttv311, ${fast},
      topics: [{ pattern: "e/#", direction: both, qos: 1 }] }
`,
    "test.yaml",
    { checkFiles: false, env: {} },
  ).bridges[0];
  const trust = new BridgeTrust(["old"]);
  const broker = new Broker({
    authenticator: trust.authenticator(undefined),
    authorizer: trust.authorizer(undefined),
  });
  await broker.start();
  const seen = collect(broker, "e/#");
  const bridge = new Bridge(engineOf(broker), config, trust, {
    hostname: "test",
    openRemote: () => {
      const server = new ScriptedServer(4);
      servers.push(server);
      return Promise.resolve(server.socket);
    },
  });
  try {
    await bridge.start();
    await waitFor("the first attempt", () => servers.length === 1);
    const first = await servers[0].expect(PacketType.CONNECT);
    assert.equal(first.bridge, true);
    assert.equal(first.clientId, "test.old");
    servers[0].send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: 1 });
    await waitFor("the second attempt", () => servers.length === 2);
    const remote = servers[1];
    assert.equal((await remote.expect(PacketType.CONNECT)).bridge, undefined);
    remote.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0 });
    const subscribe = await remote.expect(PacketType.SUBSCRIBE);
    remote.send({ type: PacketType.SUBACK, packetId: subscribe.packetId, reasonCodes: [1] });
    await waitFor("the bridge to connect", () => bridge.connected);

    await broker.publish({ topic: "e/1", payload: "mine", qos: 1 });
    const out = await remote.expect(PacketType.PUBLISH);
    remote.send({ type: PacketType.PUBACK, packetId: out.packetId!, reasonCode: 0 });
    // The remote cannot be told to keep the bridge's own messages from it: it sends this one back.
    remote.send({ ...out, packetId: 41 });
    assert.equal((await remote.expect(PacketType.PUBACK)).packetId, 41);
    remote.send({ ...out, topic: "e/2", payload: new TextEncoder().encode("theirs"), packetId: 42 });
    assert.equal((await remote.expect(PacketType.PUBACK)).packetId, 42);
    await waitFor("the remote's own message", () => seen.lines.includes("e/2 theirs"));
    assert.deepEqual(seen.lines, ["e/1 mine", "e/2 theirs"]);
  } finally {
    await seen.stop();
    await bridge.stop();
    await broker.close();
  }
});

Deno.test("with a durable store, messages queued for an unreachable remote survive a restart of this broker", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bridge-kv-" });
  const port = freePort(); // the remote is down during the first run
  const yaml = `listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]
persistence: { type: kv, path: ${dir}/broker.kv, durability: durable }
sys: { interval: 0 }
bridges:
  - { name: hub, address: "127.0.0.1:${port}", ${fast}, topics: [{ pattern: "kv/#", direction: out, qos: 1 }] }
`;
  const start = () => startServer(parseConfig(yaml, "test.yaml", { checkFiles: false, env: {} }));
  let edge = await start();
  for (let i = 1; i <= 3; i++) await edge.broker.publish({ topic: `kv/${i}`, payload: `${i}`, qos: 1 });
  assert.equal(edge.bridges()[0].queued, 3);
  await edge.close();
  const remote = await remoteOn(port, "kv/#");
  edge = await start();
  try {
    await waitFor("the messages queued before the restart", () => remote.seen.lines.length === 3);
    await settle(200);
    assert.deepEqual(remote.seen.lines, ["kv/1 1", "kv/2 2", "kv/3 3"]);
  } finally {
    await edge.close();
    await remote.seen.stop();
    await remote.broker.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a reload that changes the bridges asks for a restart and leaves the running bridge alone", async () => {
  const yaml = (pattern: string) =>
    `listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]
persistence: { type: memory }
sys: { interval: 0 }
bridges:
  - { name: hub, address: "127.0.0.1:${freePort()}", ${fast}, topics: [{ pattern: "${pattern}" }] }
`;
  const server = await startServer(parseConfig(yaml("a/#"), "test.yaml", { checkFiles: false, env: {} }));
  try {
    const result = await server.reload(parseConfig(yaml("b/#"), "test.yaml", { checkFiles: false, env: {} }));
    assert.ok(result.restartRequired.includes("bridges"), result.restartRequired.join(", "));
    assert.equal(server.config.bridges[0].topics[0].pattern, "a/#");
    assert.deepEqual(server.bridges().map((b) => b.name), ["hub"]);
  } finally {
    await server.close();
  }
});

Deno.test("messages the remote kept for the bridge's session while it was away arrive right after reconnecting", async () => {
  const hub = await serverFrom("listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]\n");
  const config = `listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]
bridges:
  - { name: hub, address: "127.0.0.1:${hub.listeners[0].port}", client_id: edge-1, ${fast},
      topics: [{ pattern: "kept/#", direction: in, qos: 1 }] }
`;
  let edge = await serverFrom(config);
  await bridgesConnected(edge);
  await edge.close();
  for (let i = 1; i <= 5; i++) await hub.broker.publish({ topic: `kept/${i}`, payload: `${i}`, qos: 1 });
  edge = await serverFrom(config);
  const seen = collect(edge.broker, "kept/#");
  try {
    await waitFor("the kept messages", () => seen.lines.length === 5);
    assert.deepEqual(seen.lines, ["kept/1 1", "kept/2 2", "kept/3 3", "kept/4 4", "kept/5 5"]);
  } finally {
    await seen.stop();
    await edge.close();
    await hub.close();
  }
});

Deno.test("QoS 2 messages cross the bridge once each way, and a rule's QoS caps what crosses", async () => {
  const hub = await serverFrom("listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]\n");
  const edge = await serverFrom(`listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]
bridges:
  - { name: hub, address: "127.0.0.1:${hub.listeners[0].port}", ${fast},
      topics: [{ pattern: "two/#", direction: both, qos: 2 }, { pattern: "zero/#", direction: out, qos: 0 }] }
`);
  // A QoS 2 subscriber on the hub sees the QoS each message arrives with.
  const { client: watcher } = await TestClient.connect(hub.broker, { clientId: "watcher", protocolLevel: 5 });
  await watcher.subscribe([{ filter: "two/#", qos: 2 }, { filter: "zero/#", qos: 2 }]);
  const atEdge = collect(edge.broker, "two/#");
  try {
    await bridgesConnected(edge);
    await edge.broker.publish({ topic: "two/out", payload: "a", qos: 2 });
    const two = await watcher.expect(PacketType.PUBLISH);
    assert.deepEqual([two.topic, two.qos], ["two/out", 2]);
    await edge.broker.publish({ topic: "zero/out", payload: "c", qos: 2 });
    const zero = await watcher.expect(PacketType.PUBLISH);
    assert.deepEqual([zero.topic, zero.qos], ["zero/out", 0]);
    await hub.broker.publish({ topic: "two/in", payload: "b", qos: 2 });
    await waitFor("the message from the hub", () => atEdge.lines.length >= 2);
    await settle(200);
    assert.deepEqual(atEdge.lines.sort(), ["two/in b", "two/out a"]);
    assert.equal(edge.bridges()[0].messagesOut, 2);
    assert.equal(edge.bridges()[0].messagesIn, 1);
  } finally {
    watcher.disconnect();
    await atEdge.stop();
    await edge.close();
    await hub.close();
  }
});

Deno.test("stop does not wait for a remote that accepted the connection but never answers", async () => {
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = silent.accept();
  const config = parseConfig(
    `bridges:\n  - { name: mute, address: "127.0.0.1:${silent.addr.port}", topics: [{ pattern: "m/#" }] }\n`,
    "test.yaml",
    { checkFiles: false, env: {} },
  ).bridges[0];
  const trust = new BridgeTrust(["mute"]);
  const broker = new Broker({
    authenticator: trust.authenticator(undefined),
    authorizer: trust.authorizer(undefined),
  });
  await broker.start();
  const bridge = new Bridge(engineOf(broker), config, trust, { hostname: "test" });
  await bridge.start();
  const conn = await accepted;
  const started = Date.now();
  await bridge.stop(300);
  assert.ok(Date.now() - started < 1000, `stop took ${Date.now() - started} ms`);
  assert.equal(bridge.connected, false);
  conn.close(); // the abandoned attempt ends with its connection
  silent.close();
  await broker.close();
});

Deno.test("after a restart with other rules, the bridge's local session holds only the new filters", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bridge-rules-" });
  const yaml = (patterns: string[]) =>
    `listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]
persistence: { type: kv, path: ${dir}/broker.kv }
sys: { interval: 0 }
bridges:
  - { name: hub, address: "127.0.0.1:${freePort()}", ${fast},
      topics: [${patterns.map((p) => `{ pattern: "${p}" }`).join(", ")}] }
`;
  const start = (patterns: string[]) =>
    startServer(parseConfig(yaml(patterns), "test.yaml", { checkFiles: false, env: {} }));
  const filters = (server: Awaited<ReturnType<typeof start>>) =>
    server.broker.admin.subscriptions("$bridge/hub").map((s) => s.filter).sort();
  let server = await start(["a/#", "b/#"]);
  assert.deepEqual(filters(server), ["a/#", "b/#"]);
  await server.close();
  server = await start(["b/#", "c/+"]);
  try {
    assert.deepEqual(filters(server), ["b/#", "c/+"]);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("retained messages that exist before a bridge is added go out to the remote, retained", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bridge-retained-" });
  const hub = await serverFrom("listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]\n");
  const base = `listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]
persistence: { type: kv, path: ${dir}/broker.kv }
sys: { interval: 0 }
`;
  const parse = (yaml: string) => parseConfig(yaml, "test.yaml", { checkFiles: false, env: {} });
  let edge = await startServer(parse(base));
  await edge.broker.publish({ topic: "ret/config", payload: "v1", qos: 1, retain: true });
  await edge.close();
  edge = await startServer(parse(`${base}bridges:
  - { name: hub, address: "127.0.0.1:${hub.listeners[0].port}", ${fast}, topics: [{ pattern: "ret/#" }] }
`));
  try {
    await waitFor("the retained message at the hub", () => hub.broker.admin.sizes().retained === 1);
    const [kept] = hub.broker.admin.retained("ret/#");
    assert.deepEqual([kept.topic, new TextDecoder().decode(kept.payload)], ["ret/config", "v1"]);
  } finally {
    await edge.close();
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a message resent to the remote after a reconnect goes out with DUP; a new one without [MQTT-3.3.1-1]", async () => {
  const servers: ScriptedServer[] = [];
  const config = parseConfig(
    `bridges:
  - { name: dupper, address: "127.0.0.1:1", ${fast}, topics: [{ pattern: "d/#", direction: out, qos: 2 }] }
`,
    "test.yaml",
    { checkFiles: false, env: {} },
  ).bridges[0];
  const trust = new BridgeTrust(["dupper"]);
  const broker = new Broker({
    authenticator: trust.authenticator(undefined),
    authorizer: trust.authorizer(undefined),
  });
  await broker.start();
  const bridge = new Bridge(engineOf(broker), config, trust, {
    hostname: "test",
    openRemote: () => {
      const server = new ScriptedServer(5);
      servers.push(server);
      return Promise.resolve(server.socket);
    },
  });
  const accept = async (server: ScriptedServer) => {
    await server.expect(PacketType.CONNECT);
    server.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0 });
  };
  try {
    await bridge.start();
    await waitFor("the first connection", () => servers.length === 1);
    await accept(servers[0]);
    await waitFor("the bridge to connect", () => bridge.connected);
    await broker.publish({ topic: "d/1", payload: "sent once before", qos: 1 });
    await broker.publish({ topic: "d/2", payload: "exactly once", qos: 2 });
    const first = [await servers[0].expect(PacketType.PUBLISH), await servers[0].expect(PacketType.PUBLISH)];
    assert.deepEqual(first.map((p) => p.dup), [false, false]);
    // No acknowledgement, and the connection drops.
    servers[0].close();
    await waitFor("the second connection", () => servers.length === 2);
    await accept(servers[1]);
    const again = [await servers[1].expect(PacketType.PUBLISH), await servers[1].expect(PacketType.PUBLISH)];
    assert.deepEqual(again.map((p) => [p.topic, p.qos, p.dup]), [["d/1", 1, true], ["d/2", 2, true]]);
    servers[1].send({ type: PacketType.PUBACK, packetId: again[0].packetId!, reasonCode: 0 });
    servers[1].send({ type: PacketType.PUBREC, packetId: again[1].packetId!, reasonCode: 0 });
    const pubrel = await servers[1].expect(PacketType.PUBREL);
    servers[1].send({ type: PacketType.PUBCOMP, packetId: pubrel.packetId, reasonCode: 0 });
    await waitFor("the local queue to drain", () => bridge.queued === 0);
    await broker.publish({ topic: "d/3", payload: "new", qos: 1 });
    assert.equal((await servers[1].expect(PacketType.PUBLISH)).dup, false);
  } finally {
    await bridge.stop();
    await broker.close();
  }
});
