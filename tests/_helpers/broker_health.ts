/**
 * What a fault or hostile-client test asserts about a broker running as a child
 * process, after each phase: it is still running, and a well-behaved client
 * gets a QoS 1 round trip within 5 s (its PUBACK and the message back through
 * its own subscription), on any listener (mqtt://, mqtts://, ws://, wss://).
 * Memory is rss.ts's job.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import type { BrokerProcess } from "./broker_process.ts";
import { mib, rssBytes } from "./rss.ts";

/** How long a well-behaved client may take for its QoS 1 round trip. */
export const ROUND_TRIP_MS = 5000;

/** Whether the child process is still running (given 10 ms to report an exit). */
export async function isAlive(broker: BrokerProcess): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const running = new Promise<boolean>((r) => timer = setTimeout(() => r(true), 10));
  const alive = await Promise.race([broker.child.status.then(() => false), running]);
  clearTimeout(timer);
  return alive;
}

/** `promise`, or a rejection with `message` when it does not settle within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error(message)), ms));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Connects a client to `url` and subscribes it to `topic` at QoS 1, both within `timeoutMs`;
 * the caller ends it.
 */
export async function wellBehavedClient(
  url: string,
  topic: string,
  options: mqtt.IClientOptions = {},
  timeoutMs = ROUND_TRIP_MS,
): Promise<mqtt.MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: timeoutMs, ...options });
  const ready = (async () => {
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => resolve());
      client.once("error", reject);
      client.once("close", () => reject(new Error(`${url} closed the connection`)));
    });
    await client.subscribeAsync(topic, { qos: 1 });
  })();
  try {
    await within(ready, timeoutMs, `no CONNACK and SUBACK from ${url} within ${timeoutMs} ms`);
    return client;
  } catch (err) {
    client.end(true);
    throw err;
  }
}

/**
 * Publishes one QoS 1 message on `topic` through `client` (already subscribed to it) and waits
 * for its PUBACK and for the message to come back; rejects after `timeoutMs`. Resolves with the
 * time taken in ms.
 */
export async function qos1RoundTrip(
  client: mqtt.MqttClient,
  topic: string,
  timeoutMs = ROUND_TRIP_MS,
): Promise<number> {
  const start = performance.now();
  const payload = crypto.randomUUID();
  let onMessage: (t: string, p: Uint8Array) => void = () => {};
  const back = new Promise<void>((resolve) => {
    onMessage = (t, p) => {
      if (t === topic && new TextDecoder().decode(p) === payload) resolve();
    };
    client.on("message", onMessage);
  });
  try {
    await within(
      Promise.all([back, client.publishAsync(topic, payload, { qos: 1 })]),
      timeoutMs,
      `no QoS 1 round trip on ${topic} within ${timeoutMs} ms`,
    );
  } finally {
    client.off("message", onMessage);
  }
  return performance.now() - start;
}

/**
 * A fresh client on `url` connects, subscribes to a topic of its own and gets a QoS 1 message
 * back through it, all within `withinMs` (5 s). Resolves with the time taken in ms.
 */
export async function freshRoundTrip(
  url: string,
  options: mqtt.IClientOptions = {},
  withinMs = ROUND_TRIP_MS,
): Promise<number> {
  const started = performance.now();
  const topic = `health/${crypto.randomUUID()}`;
  const client = await wellBehavedClient(url, topic, options, withinMs);
  try {
    await qos1RoundTrip(client, topic, Math.max(1, withinMs - (performance.now() - started)));
  } finally {
    await client.endAsync(true);
  }
  const ms = performance.now() - started;
  assert.ok(ms <= withinMs, `QoS 1 round trip on ${url} took ${ms.toFixed(0)} ms`);
  return ms;
}

/** {@link freshRoundTrip} of a fresh v5 client on the tcp listener at 127.0.0.1:`port`. */
export function probeRoundTrip(port: number): Promise<number> {
  return freshRoundTrip(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 5,
    clientId: `health-${crypto.randomUUID().slice(0, 8)}`,
  });
}

/**
 * The checks after a phase: the broker is alive, a fresh v5 client on its tcp listener gets a
 * QoS 1 round trip within 5 s, and, given `maxRss`, its resident memory is at most that many
 * bytes (the bound the phase justifies).
 */
export async function assertHealthy(
  broker: BrokerProcess,
  phase: string,
  options: { maxRss?: number } = {},
): Promise<void> {
  assert.ok(await isAlive(broker), `${phase}: the broker exited:\n${broker.output().slice(-2000)}`);
  await probeRoundTrip(broker.port).catch((err) => {
    throw new Error(`${phase}: ${err.message}`);
  });
  if (options.maxRss === undefined) return;
  const rss = await rssBytes(broker.child.pid);
  assert.ok(rss <= options.maxRss, `${phase}: RSS ${mib(rss)} is over the bound of ${mib(options.maxRss)}`);
}
