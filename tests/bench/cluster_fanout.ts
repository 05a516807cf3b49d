/**
 * What the cluster path costs per message: three broker processes on a three-server
 * NATS cluster (JetStream R3) against one broker alone, measured with mqtt.js clients.
 *
 * - latency: one QoS 0 message at a time, publisher → subscriber, median and p99, for a
 *   subscriber on the publisher's node and on another node (the second is what every
 *   subscriber would pay if all routing went through NATS);
 * - fan-out: N QoS 0 messages to three subscribers (one per node), until all arrived;
 * - QoS 1: N messages with up to 100 in flight, until every PUBACK (the stream's ack);
 * - CONNECT: clean connect and disconnect, one after the other (cluster: owner record read and write);
 * - QoS 1 to a persistent session on another node, until all arrived (each message is also
 *   stored in and removed from that session's queue in the store).
 *
 *   deno run -A --unstable-kv tests/bench/cluster_fanout.ts [N=20000]
 */
import mqtt from "mqtt";
import { type BrokerProcess, startBroker } from "../_helpers/broker_process.ts";
import { startNatsCluster } from "../_helpers/nats_cluster.ts";

const n = Number(Deno.args[0] ?? 20_000);

async function connect(port: number): Promise<mqtt.MqttClient> {
  return await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
}

async function latency(pubPort: number, subPort: number, count = 500): Promise<{ p50: number; p99: number }> {
  const pub = await connect(pubPort);
  const sub = await connect(subPort);
  await sub.subscribeAsync("lat/x", { qos: 0 });
  await new Promise((r) => setTimeout(r, 200));
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const arrived = new Promise<void>((resolve) => sub.once("message", () => resolve()));
    const t0 = performance.now();
    pub.publish("lat/x", "x", { qos: 0 });
    await arrived;
    samples.push(performance.now() - t0);
  }
  await Promise.all([pub.endAsync(), sub.endAsync()]);
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(count / 2)], p99: samples[Math.floor(count * 0.99)] };
}

async function fanout(pubPort: number, subPorts: number[]): Promise<number> {
  const subs = await Promise.all(subPorts.map(connect));
  const counts = subs.map(() => 0);
  let all!: () => void;
  const done = new Promise<void>((resolve) => all = resolve);
  subs.forEach((s, i) =>
    s.on("message", () => {
      if (++counts[i] === n && counts.every((c) => c === n)) all();
    })
  );
  for (const s of subs) await s.subscribeAsync("fan/#", { qos: 0 });
  await new Promise((r) => setTimeout(r, 200));
  const pub = await connect(pubPort);
  const payload = new Uint8Array(64);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    pub.publish("fan/t", payload as never, { qos: 0 });
    if (i % 500 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  await Promise.race([done, new Promise((r) => setTimeout(r, 60_000))]);
  const ms = performance.now() - t0;
  await Promise.all([pub.endAsync(), ...subs.map((s) => s.endAsync())]);
  if (!counts.every((c) => c === n)) console.warn(`  fan-out incomplete: ${counts.join(", ")} of ${n}`);
  return (n * subPorts.length) / (ms / 1000);
}

async function qos1(pubPort: number, count: number): Promise<number> {
  const pub = await connect(pubPort);
  const t0 = performance.now();
  const window: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    window.push(pub.publishAsync("q1/t", "x", { qos: 1 }));
    if (window.length === 100) await Promise.all(window.splice(0));
  }
  await Promise.all(window);
  const ms = performance.now() - t0;
  await pub.endAsync();
  return count / (ms / 1000);
}

async function persistentQos1(pubPort: number, subPort: number, count: number): Promise<number> {
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${subPort}`, {
    reconnectPeriod: 0,
    clientId: `bench-${crypto.randomUUID().slice(0, 8)}`,
    clean: false,
  });
  let received = 0;
  let all!: () => void;
  const done = new Promise<void>((resolve) => all = resolve);
  sub.on("message", () => {
    if (++received === count) all();
  });
  await sub.subscribeAsync("p1/#", { qos: 1 });
  await new Promise((r) => setTimeout(r, 200));
  const pub = await connect(pubPort);
  const t0 = performance.now();
  const window: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    window.push(pub.publishAsync("p1/t", "x", { qos: 1 }));
    if (window.length === 100) await Promise.all(window.splice(0));
  }
  await Promise.all(window);
  await Promise.race([done, new Promise((r) => setTimeout(r, 60_000))]);
  const ms = performance.now() - t0;
  await Promise.all([pub.endAsync(), sub.endAsync()]);
  if (received < count) console.warn(`  persistent QoS 1 incomplete: ${received} of ${count}`);
  return count / (ms / 1000);
}

async function connects(port: number, count = 200): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, clientId: `c-${i}` });
    await c.endAsync();
  }
  return (performance.now() - t0) / count;
}

async function measure(label: string, ports: number[]) {
  const local = await latency(ports[0], ports[0]);
  const remote = ports.length > 1 ? await latency(ports[0], ports[1]) : undefined;
  const fan = await fanout(ports[0], ports.length > 1 ? ports : [ports[0], ports[0], ports[0]]);
  const q1 = await qos1(ports[0], Math.min(n, 5000));
  const connect = await connects(ports[0]);
  const p1 = await persistentQos1(ports[0], ports[ports.length - 1], Math.min(n, 2000));
  console.log(`${label}`);
  console.log(`  QoS 0 latency, same node:  p50 ${local.p50.toFixed(2)} ms, p99 ${local.p99.toFixed(2)} ms`);
  if (remote) {
    console.log(
      `  QoS 0 latency, other node: p50 ${remote.p50.toFixed(2)} ms, p99 ${remote.p99.toFixed(2)} ms`,
    );
  }
  console.log(`  fan-out to 3 subscribers:  ${Math.round(fan)} deliveries/s`);
  console.log(`  QoS 1 publish (100 in flight): ${Math.round(q1)} msg/s`);
  console.log(`  clean CONNECT + DISCONNECT, one at a time: ${connect.toFixed(2)} ms each`);
  console.log(
    `  QoS 1 to a persistent session${ports.length > 1 ? " on another node" : ""}: ${Math.round(p1)} msg/s`,
  );
}

for (const [label, persistence] of [["memory", "{ type: memory }"], ["Deno KV, durable", "{ type: kv }"]]) {
  const single = await startBroker({
    yaml: `persistence: ${persistence}\nsys: { interval: 0 }\nlimits: { max_queued_messages: 100000 }\n`,
  });
  try {
    await measure(`one broker, ${label}`, [single.port]);
  } finally {
    await single.stop();
  }
}

const nats = await startNatsCluster(3);
const nodes: BrokerProcess[] = [];
try {
  for (let i = 0; i < 3; i++) {
    nodes.push(
      await startBroker({
        yaml:
          `persistence: { type: memory }\nsys: { interval: 0 }\nlimits: { max_queued_messages: 100000 }\ncluster:\n  node_id: b${i}\n  replicas: 3\n` +
          `  nats: { servers: ["${nats.urls[i]}"] }\n`,
      }),
    );
  }
  await measure("three brokers on a 3-server NATS cluster (JetStream R3)", nodes.map((b) => b.port));
} finally {
  await Promise.all(nodes.map((b) => b.stop()));
  await nats.stop();
}
