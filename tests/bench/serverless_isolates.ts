/**
 * Cross-isolate cost of the serverless mode: two isolates (Workers sharing a KV file
 * and a BroadcastChannel), mqtt.js clients over WebSocket. Measures QoS 0 throughput
 * and QoS 1 round-trip latency with publisher and subscriber on the same isolate and
 * on different isolates, and the connect time of a persistent session that moves.
 *
 *   deno run -A --unstable-kv tests/bench/serverless_isolates.ts [messages]
 */
import mqtt from "mqtt";
import type { IsolateCommand, IsolateReply } from "../_helpers/isolate_worker.ts";

const count = Number(Deno.args[0] ?? 5000);

function isolate(kvPath: string, channel: string) {
  const worker = new Worker(new URL("../_helpers/isolate_worker.ts", import.meta.url), { type: "module" });
  const ask = (command: IsolateCommand) =>
    new Promise<IsolateReply>((resolve) => {
      worker.onmessage = (e: MessageEvent<IsolateReply>) => resolve(e.data);
      worker.postMessage(command);
    });
  return ask({ start: { kvPath, channel } }).then((reply) => ({
    url: `ws://127.0.0.1:${(reply as { port: number }).port}/mqtt`,
    stop: async () => {
      await ask({ stop: true });
      worker.terminate();
    },
  }));
}

const connect = (url: string, options: mqtt.IClientOptions = {}) =>
  mqtt.connectAsync(url, { reconnectPeriod: 0, ...options });

async function throughput(pubUrl: string, subUrl: string, topic: string): Promise<number> {
  const sub = await connect(subUrl);
  await sub.subscribeAsync(topic);
  const pub = await connect(pubUrl);
  let got = 0;
  const done = new Promise<void>((resolve) => sub.on("message", () => ++got === count && resolve()));
  const started = performance.now();
  for (let i = 0; i < count; i++) pub.publish(topic, "x".repeat(64));
  await Promise.race([done, new Promise((r) => setTimeout(r, 30_000))]);
  const seconds = (performance.now() - started) / 1000;
  console.log(`  ${topic}: ${got} of ${count} in ${seconds.toFixed(2)} s`);
  await Promise.all([sub.endAsync(), pub.endAsync()]);
  return got / seconds;
}

async function latency(pubUrl: string, subUrl: string, topic: string): Promise<number[]> {
  const sub = await connect(subUrl);
  await sub.subscribeAsync(topic, { qos: 1 });
  const pub = await connect(pubUrl);
  const samples: number[] = [];
  for (let i = 0; i < 200; i++) {
    const arrived = new Promise<void>((resolve) => sub.once("message", () => resolve()));
    const t0 = performance.now();
    await pub.publishAsync(topic, "ping", { qos: 1 });
    await arrived;
    samples.push(performance.now() - t0);
  }
  await Promise.all([sub.endAsync(), pub.endAsync()]);
  samples.sort((a, b) => a - b);
  return [samples[100], samples[198]];
}

async function connectTimes(urlA: string, urlB: string): Promise<{ fresh: number; moved: number }> {
  const persistent = {
    clean: false,
    protocolVersion: 5 as const,
    properties: { sessionExpiryInterval: 600 },
  };
  let t0 = performance.now();
  const first = await connect(urlA, { clientId: "mover", ...persistent });
  const fresh = performance.now() - t0;
  await first.subscribeAsync("m/#", { qos: 1 });
  await first.endAsync();
  t0 = performance.now();
  const second = await connect(urlB, { clientId: "mover", ...persistent });
  const moved = performance.now() - t0;
  await second.endAsync();
  return { fresh, moved };
}

const dir = await Deno.makeTempDir({ prefix: "serverless-bench-" });
const channel = crypto.randomUUID();
const [a, b] = await Promise.all([isolate(`${dir}/kv`, channel), isolate(`${dir}/kv`, channel)]);
try {
  const same = await throughput(a.url, a.url, "t/same");
  const across = await throughput(a.url, b.url, "t/across");
  console.log(
    `QoS 0, ${count} x 64 B: same isolate ${same.toFixed(0)} msg/s, across isolates ${
      across.toFixed(0)
    } msg/s`,
  );
  const [sameMedian, sameP99] = await latency(a.url, a.url, "l/same");
  const [acrossMedian, acrossP99] = await latency(a.url, b.url, "l/across");
  console.log(
    `QoS 1 publish-to-receive: same isolate median ${sameMedian.toFixed(2)} ms (p99 ${
      sameP99.toFixed(2)
    }), ` +
      `across median ${acrossMedian.toFixed(2)} ms (p99 ${acrossP99.toFixed(2)})`,
  );
  const times = await connectTimes(a.url, b.url);
  console.log(
    `connect: new persistent session ${times.fresh.toFixed(1)} ms, moved from the other isolate ${
      times.moved.toFixed(1)
    } ms`,
  );
} finally {
  await Promise.all([a.stop(), b.stop()]);
  await Deno.remove(dir, { recursive: true });
}
