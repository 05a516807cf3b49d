/**
 * Three broker processes on a three-server NATS cluster (JetStream, R3), with MQTT
 * clients spread across them: cross-node routing at every QoS, retained messages,
 * session resume and takeover on another node, share groups balanced across nodes,
 * and a node killed with SIGKILL under load without losing an acknowledged message.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { type BrokerProcess, startBroker } from "../_helpers/broker_process.ts";
import { KeptStore } from "../_helpers/kept_store.ts";
import { hasNatsServer, type NatsCluster, startNatsCluster } from "../_helpers/nats_cluster.ts";
import { login, writeUsers } from "../_helpers/password_users.ts";
import { waitFor } from "../_helpers/wait_for.ts";

const available = hasNatsServer("the three-node cluster test");

interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

/** A client that records what it receives from the moment it is created. */
function client(port: number, options: mqtt.IClientOptions = {}) {
  const received: Received[] = [];
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...options,
  });
  c.on("message", (topic, payload, packet) => {
    received.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain });
  });
  c.on("error", () => {});
  const connack = new Promise<mqtt.IConnackPacket>((resolve, reject) => {
    c.once("connect", resolve);
    c.once("error", reject);
  });
  return { c, received, connack };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** alice and eve (password "<user>-pw"), for the session-owner step; other clients are anonymous. */
const passwordFile = await Deno.makeTempFile({ prefix: "cluster-passwords-" });
await writeUsers(passwordFile, ["alice", "eve"]);

function clusterYaml(nats: NatsCluster, i: number): string {
  return `persistence: { type: memory }\nsys: { interval: 0 }\ncluster:\n  node_id: node${i}\n  replicas: 3\n` +
    `  nats: { servers: ["${nats.urls[i]}"] }\nauth: { password_file: ${passwordFile} }\n`;
}

Deno.test({
  name: "a cluster of three brokers on a three-server NATS cluster",
  ignore: !available,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const nats = await startNatsCluster(3);
    const nodes: BrokerProcess[] = [];
    const clients: mqtt.MqttClient[] = [];
    const open = (port: number, options?: mqtt.IClientOptions) => {
      const made = client(port, options);
      clients.push(made.c);
      return made;
    };
    try {
      nodes.push(
        ...await Promise.all([0, 1, 2].map((i) => startBroker({ yaml: clusterYaml(nats, i), niceness: 10 }))),
      );
      const port = (i: number) => nodes[i].port;
      let watcher: ReturnType<typeof open> | undefined;

      await t.step(
        "a message published on one node reaches the subscribers of every node once, at QoS 0, 1 and 2",
        async () => {
          const subs = [open(port(0)), open(port(1)), open(port(2)), open(port(1))];
          await Promise.all(subs.map((s) => s.connack));
          await subs[0].c.subscribeAsync("fan/#", { qos: 2 });
          await subs[1].c.subscribeAsync("fan/+", { qos: 2 });
          await subs[2].c.subscribeAsync("fan/x", { qos: 2 });
          // A second client on node 1 with another filter: node 1 holds two NATS subscriptions matching fan/x.
          await subs[3].c.subscribeAsync("fan/x", { qos: 2 });
          await pause(300);
          const pub = open(port(0));
          await pub.connack;
          for (const qos of [0, 1, 2] as const) await pub.c.publishAsync("fan/x", `q${qos}`, { qos });
          await waitFor("three messages everywhere", () => subs.every((s) => s.received.length >= 3), 10_000);
          await pause(200);
          for (const s of subs) {
            assert.deepEqual(s.received.map((m) => `${m.payload}@${m.qos}`), ["q0@0", "q1@1", "q2@2"]);
          }
        },
      );

      await t.step(
        "topics with dots, stars, spaces and empty levels route across nodes unchanged",
        async () => {
          const sub = open(port(2));
          await sub.connack;
          await sub.c.subscribeAsync(["odd/+/ a.b/#", "odd//*"], { qos: 1 });
          await pause(300);
          const pub = open(port(0));
          await pub.connack;
          for (const topic of ["odd/>/ a.b", "odd/x/ a.b/c d", "odd//*", "odd/_2E/ a.b"]) {
            await pub.c.publishAsync(topic, topic, { qos: 1 });
          }
          await pub.c.publishAsync("odd/y/ a_b", "no", { qos: 1 });
          await waitFor("four odd topics", () => sub.received.length >= 4, 10_000);
          await pause(200);
          assert.deepEqual(
            sub.received.map((m) => m.topic).sort(),
            ["odd/>/ a.b", "odd/_2E/ a.b", "odd//*", "odd/x/ a.b/c d"].sort(),
          );
        },
      );

      await t.step(
        "a retained message set on one node is sent to a later subscriber on another, and cleared everywhere",
        async () => {
          const pub = open(port(1));
          await pub.connack;
          await pub.c.publishAsync("kept/a", "v1", { qos: 1, retain: true });
          await pause(200);
          const late = open(port(2));
          await late.connack;
          await late.c.subscribeAsync("kept/#", { qos: 1 });
          await waitFor("the retained message", () => late.received.length === 1, 10_000);
          assert.deepEqual(late.received[0], { topic: "kept/a", payload: "v1", qos: 1, retain: true });
          await pub.c.publishAsync("kept/a", "", { qos: 1, retain: true });
          await pause(300);
          const later = open(port(0));
          await later.connack;
          await later.c.subscribeAsync("kept/#", { qos: 1 });
          await pause(300);
          assert.equal(later.received.length, 0);
        },
      );

      await t.step(
        "a persistent session resumes on another node with the messages queued while it was away",
        async () => {
          const first = open(port(0), { clientId: "roamer", clean: false });
          await first.connack;
          await first.c.subscribeAsync("roam/#", { qos: 1 });
          await first.c.endAsync();
          const pub = open(port(2));
          await pub.connack;
          for (let i = 0; i < 3; i++) await pub.c.publishAsync(`roam/${i}`, `m${i}`, { qos: 1 });
          const again = open(port(1), { clientId: "roamer", clean: false });
          const connack = await again.connack;
          assert.equal(connack.sessionPresent, true);
          await waitFor("three queued messages", () => again.received.length >= 3, 10_000);
          assert.deepEqual(again.received.map((m) => m.payload), ["m0", "m1", "m2"]);
          // The subscription moved with the session: live messages follow it to its new node.
          await pub.c.publishAsync("roam/live", "live", { qos: 1 });
          await waitFor("the live message", () => again.received.length === 4, 10_000);
        },
      );

      await t.step(
        "connecting with a client id in use on another node closes the older connection [MQTT-3.1.4-3]",
        async () => {
          const older = open(port(0), { clientId: "twin", protocolVersion: 5 });
          await older.connack;
          const reason = new Promise<number | undefined>((resolve) => {
            older.c.on("disconnect", (packet) => resolve(packet.reasonCode));
          });
          const newer = open(port(2), { clientId: "twin", protocolVersion: 5 });
          await newer.connack;
          assert.equal(await reason, 0x8e);
          assert.equal(newer.c.connected, true);
        },
      );

      await t.step(
        "another user presenting a client id held on another node is refused with 0x85, online or not, and the owner keeps it",
        async () => {
          const v5 = { clientId: "owned", protocolVersion: 5 as const, clean: false };
          const expiry = { properties: { sessionExpiryInterval: 3600 } };
          const alice = open(port(0), { ...v5, ...expiry, ...login("alice") });
          await alice.connack;
          await alice.c.subscribeAsync("owned/#", { qos: 1 });
          const refusal = (i: number) =>
            open(port(i), { ...v5, ...expiry, ...login("eve") }).connack.then(
              () => "connected",
              (err: { code?: number }) => err.code,
            );
          assert.equal(await refusal(2), 0x85);
          assert.equal(alice.c.connected, true, "eve closed alice's connection on another node");
          await alice.c.endAsync();
          const pub = open(port(2));
          await pub.connack;
          await pub.c.publishAsync("owned/1", "for alice", { qos: 1 });
          assert.equal(await refusal(1), 0x85);
          const back = open(port(1), { ...v5, ...expiry, ...login("alice") });
          assert.equal((await back.connack).sessionPresent, true);
          await waitFor("alice's queued message", () => back.received.length === 1, 10_000);
          assert.equal(back.received[0].payload, "for alice");
        },
      );

      await t.step(
        "a shared subscription is balanced across nodes and each message goes to one member",
        async () => {
          const members = [open(port(0)), open(port(1)), open(port(2))];
          await Promise.all(members.map((m) => m.connack));
          for (const m of members) await m.c.subscribeAsync("$share/workers/job/#", { qos: 1 });
          await pause(300);
          const pub = open(port(0));
          await pub.connack;
          for (let i = 0; i < 60; i++) await pub.c.publishAsync(`job/${i}`, String(i), { qos: 1 });
          await waitFor("60 jobs", () => members.reduce((n, m) => n + m.received.length, 0) >= 60, 10_000);
          await pause(200);
          const all = members.flatMap((m) => m.received.map((r) => r.payload)).sort();
          assert.deepEqual(all, Array.from({ length: 60 }, (_, i) => String(i)).sort());
          for (const m of members) {
            assert.ok(m.received.length >= 5, `a member got ${m.received.length} of 60`);
          }
        },
      );

      await t.step(
        "a node killed with SIGKILL under load loses no acknowledged QoS 1 or 2 message",
        async () => {
          // The subscriber keeps its QoS 2 receive state across the reconnect, as exactly once requires.
          const store = new KeptStore();
          const sub = open(port(2), { clientId: "survivor", clean: false, incomingStore: store });
          await sub.connack;
          await sub.c.subscribeAsync("load/#", { qos: 2 });
          // A client with a will on the node that dies, and someone on another node waiting for it.
          watcher = open(port(0));
          await watcher.connack;
          await watcher.c.subscribeAsync("wills/#", { qos: 1 });
          const testator = open(port(2), {
            clientId: "testator",
            clean: false,
            will: { topic: "wills/testator", payload: "gone" as never, qos: 1, retain: false },
          });
          await testator.connack;
          const cleanTestator = open(port(2), {
            clientId: "clean-testator",
            will: { topic: "wills/clean", payload: "also gone" as never, qos: 1, retain: false },
          });
          await cleanTestator.connack;
          await pause(300);
          const pub = open(port(0));
          await pub.connack;
          const acked: string[] = [];
          for (let i = 0; i < 300; i++) {
            if (i === 120) nodes[2].kill();
            // Paced a little: steady load, without starving timing-sensitive tests that run beside this one.
            if (i % 10 === 0) await pause(5);
            await pub.c.publishAsync(`load/${i % 7}`, String(i), { qos: i % 2 === 0 ? 1 : 2 });
            acked.push(String(i));
          }
          await nodes[2].child.status;
          const again = open(port(1), { clientId: "survivor", clean: false, incomingStore: store });
          assert.equal((await again.connack).sessionPresent, true);
          const got = () => new Set([...sub.received, ...again.received].map((m) => m.payload));
          await waitFor("every acknowledged message", () => acked.every((p) => got().has(p)), 15_000);
        },
      );

      await t.step(
        "the wills of clients of the dead node are published once, by a node that adopts their sessions",
        async () => {
          await waitFor("the wills", () => watcher!.received.length >= 2, 15_000);
          await pause(1500);
          assert.deepEqual(watcher!.received.map((m) => m.payload).sort(), ["also gone", "gone"]);
        },
      );

      await t.step(
        "a node that rejoins catches up on retained messages set while it was down and routes again",
        async () => {
          const pub = open(port(0));
          await pub.connack;
          await pub.c.publishAsync("rejoin/r", "set while away", { qos: 1, retain: true });
          nodes[2] = await startBroker({ yaml: clusterYaml(nats, 2), niceness: 10 });
          const back = open(port(2));
          await back.connack;
          await back.c.subscribeAsync("rejoin/#", { qos: 1 });
          await waitFor("the retained message", () => back.received.length === 1, 10_000);
          assert.deepEqual(back.received[0], {
            topic: "rejoin/r",
            payload: "set while away",
            qos: 1,
            retain: true,
          });
          const listener = open(port(1));
          await listener.connack;
          await listener.c.subscribeAsync("rejoin/live", { qos: 1 });
          await pause(300);
          await back.c.publishAsync("rejoin/live", "hello", { qos: 1 });
          await waitFor("the live message", () => listener.received.length === 1, 10_000);
        },
      );
    } finally {
      for (const c of clients) c.end(true);
      await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
      await nats.stop();
      await Deno.remove(passwordFile);
    }
  },
});
