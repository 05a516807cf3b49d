/**
 * Nothing acknowledged is lost across kill -9: the real broker process runs on
 * a Deno KV file in durable mode; a publisher sends QoS 1 and QoS 2 messages to
 * offline persistent subscribers and updates retained topics while the broker is
 * killed with SIGKILL at random moments and restarted. At the end every message
 * whose PUBACK/PUBCOMP the publisher received is delivered (QoS 2 exactly once)
 * and every retained topic holds at least its last acknowledged value.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { type BrokerProcess, freePort, startBroker } from "../_helpers/broker_process.ts";

// Queues large enough that no message is dropped for overflow: this test is about durability.
const KV_YAML = "persistence:\n  type: kv\n  path: ./broker.kv\n  durability: durable\n" +
  "limits:\n  max_queued_messages: 1000000\n  max_queued_bytes: 1000000000\nlog:\n  level: warning\n";
const CYCLES = 3;

/** Seeded random numbers, so a failing run can be replayed. */
function rng(seed: number): () => number {
  let x = seed;
  return () => ((x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9 >>> 0) / 0x100000000);
}

async function connect(port: number, clientId: string, clean: boolean): Promise<mqtt.MqttClient> {
  return await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId,
    clean,
    protocolVersion: 5,
    properties: clean ? undefined : { sessionExpiryInterval: 3600 },
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
}

/** Publishes until the broker dies; returns what was acknowledged. */
async function publishUntilKilled(
  port: number,
  counter: { n: number },
  acked: Map<string, number[]>,
  retained: Map<string, number>,
) {
  const client = await connect(port, "crash-pub", true);
  client.on("error", () => {});
  const inflight = new Set<Promise<void>>();
  let alive = true;
  // Publishes pending when the connection drops never settle in mqtt.js: stop waiting on them.
  const closed = new Promise<void>((resolve) => client.on("close", () => (alive = false, resolve())));
  while (alive) {
    const n = ++counter.n;
    const qos = (n % 2 === 0 ? 2 : 1) as 1 | 2;
    const topic = n % 5 === 0 ? `crash/r/${n % 3}` : `crash/q${qos}`;
    const retain = topic.startsWith("crash/r/");
    const p = client.publishAsync(topic, JSON.stringify({ n }), { qos, retain }).then(() => {
      if (retain) retained.set(topic, Math.max(retained.get(topic) ?? 0, n));
      else acked.get(topic)!.push(n);
    }, () => {});
    inflight.add(p);
    p.finally(() => inflight.delete(p));
    if (inflight.size >= 16) await Promise.race([...inflight, closed]);
  }
  client.end(true);
}

async function drain(port: number, clientId: string, topics: string): Promise<number[]> {
  const got: number[] = [];
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    clientId,
    clean: false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 0,
    manualConnect: true,
  });
  let last = Date.now();
  client.on("message", (_topic, payload) => {
    got.push(JSON.parse(payload.toString()).n);
    last = Date.now();
  });
  client.connect();
  await new Promise<void>((resolve) => client.once("connect", () => resolve()));
  if (topics) await client.subscribeAsync(topics, { qos: 2 });
  while (Date.now() - last < 1000) await new Promise((r) => setTimeout(r, 100));
  await client.endAsync();
  return got;
}

Deno.test({
  name: "acknowledged QoS 1/2 messages and retained values survive repeated kill -9 of the broker",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const random = rng(Number(Deno.env.get("CRASH_SEED") ?? 20261123));
    const dir = await Deno.makeTempDir({ prefix: "crash-" });
    const port = freePort();
    let broker: BrokerProcess | undefined;
    try {
      broker = await startBroker({ yaml: KV_YAML, dir, port });
      // Persistent subscribers register, then go offline: everything for them is queued in KV.
      for (const [id, filter, qos] of [["sub-q1", "crash/q1", 1], ["sub-q2", "crash/q2", 2]] as const) {
        const c = await connect(port, id, false);
        await c.subscribeAsync(filter, { qos });
        await c.endAsync();
      }
      const acked = new Map<string, number[]>([["crash/q1", []], ["crash/q2", []]]);
      const retained = new Map<string, number>();
      const counter = { n: 0 };
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const publishing = publishUntilKilled(port, counter, acked, retained);
        await new Promise((r) => setTimeout(r, 300 + random() * 700));
        await broker.kill();
        await publishing;
        broker = await startBroker({ yaml: KV_YAML, dir, port });
      }
      assert.ok(
        acked.get("crash/q1")!.length > 0 && acked.get("crash/q2")!.length > 0,
        "some messages were acknowledged",
      );

      const q1 = await drain(port, "sub-q1", "");
      const q2 = await drain(port, "sub-q2", "");
      const missing1 = acked.get("crash/q1")!.filter((n) => !q1.includes(n));
      const missing2 = acked.get("crash/q2")!.filter((n) => !q2.includes(n));
      assert.deepEqual(missing1, [], "acknowledged QoS 1 messages lost");
      assert.deepEqual(missing2, [], "acknowledged QoS 2 messages lost");
      const dup2 = q2.filter((n, i) => q2.indexOf(n) !== i);
      assert.deepEqual(dup2, [], "QoS 2 delivered more than once");

      const values = new Map<string, number>();
      const client = await connect(port, "crash-check", true);
      client.on("message", (topic, payload) => values.set(topic, JSON.parse(payload.toString()).n));
      await client.subscribeAsync("crash/r/+", { qos: 1 });
      await new Promise((r) => setTimeout(r, 300));
      await client.endAsync();
      for (const [topic, n] of retained) {
        assert.ok((values.get(topic) ?? 0) >= n, `${topic} holds ${values.get(topic)}, acked ${n}`);
      }
    } finally {
      await broker?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
