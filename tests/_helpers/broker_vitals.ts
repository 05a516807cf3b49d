/**
 * What a fault test checks between its phases about a broker running as a child
 * process: that it is alive, that a well-behaved client still gets a QoS 1
 * round trip in time, how much memory and CPU it uses, and what its
 * `/metrics` say. Linux only (reads /proc).
 */
import mqtt from "mqtt";
import { type BrokerProcess, launch } from "./broker_process.ts";

const root = new URL("../../", import.meta.url).pathname;

/** Resident set size of a process, in KiB. */
export function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

/** CPU time (user + system) a process has used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  // Fields after the parenthesised command name; utime and stime are the 14th and 15th overall.
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

/** The share of one core a process uses over `ms` milliseconds (0.5 = half a core). */
export async function cpuShare(pid: number, ms: number): Promise<number> {
  const before = cpuSeconds(pid);
  const start = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return (cpuSeconds(pid) - before) / ((performance.now() - start) / 1000);
}

/** Whether the process has exited. */
export async function exited(broker: BrokerProcess): Promise<boolean> {
  const status = await Promise.race([broker.child.status, new Promise((r) => setTimeout(() => r(null), 10))]);
  return status !== null;
}

/**
 * Publishes one QoS 1 message and waits for it to come back through a subscription;
 * rejects after `timeoutMs`. `client` must already be subscribed to `topic`.
 */
export function qos1RoundTrip(client: mqtt.MqttClient, topic: string, timeoutMs = 5000): Promise<number> {
  const start = performance.now();
  const payload = crypto.randomUUID();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off("message", onMessage);
      reject(new Error(`no QoS 1 round trip on ${topic} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (t: string, p: Uint8Array) => {
      if (t !== topic || new TextDecoder().decode(p) !== payload) return;
      clearTimeout(timer);
      client.off("message", onMessage);
      resolve(performance.now() - start);
    };
    client.on("message", onMessage);
    client.publishAsync(topic, payload, { qos: 1 }).catch(() => {});
  });
}

/** Connects and subscribes to `topic` at QoS 1, all within `timeoutMs`. */
export async function wellBehavedClient(
  url: string,
  topic: string,
  options: mqtt.IClientOptions = {},
  timeoutMs = 5000,
): Promise<mqtt.MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: timeoutMs, ...options });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no CONNACK from ${url} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      client.once("connect", () => (clearTimeout(timer), resolve()));
      client.once("error", (err) => (clearTimeout(timer), reject(err)));
      client.once("close", () => (clearTimeout(timer), reject(new Error(`${url} closed the connection`))));
    });
    await client.subscribeAsync(topic, { qos: 1 });
    return client;
  } catch (err) {
    client.end(true);
    throw err;
  }
}

/** Opens up to `n` TCP connections to `port` (stopping at the first failure); the caller closes them. */
export async function openConnections(port: number, n: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < n; i++) {
    try {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    } catch {
      break;
    }
  }
  return conns;
}

/** The value of one sample in Prometheus text, or undefined. */
export function metric(text: string, sample: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(sample + " "));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

/**
 * Runs main.ts with `yaml` as its configuration under a lowered open-file limit
 * (`ulimit -n`), in a fresh directory, and waits until `port` accepts.
 */
export async function startLimitedBroker(
  yaml: string,
  options: { port: number; openFiles: number },
): Promise<BrokerProcess> {
  const dir = await Deno.makeTempDir({ prefix: "mqtt-hostile-" });
  await Deno.writeTextFile(`${dir}/broker.yaml`, yaml);
  const command = `ulimit -n ${options.openFiles} && exec "${Deno.execPath()}" run --unstable-kv -A ` +
    `"${root}main.ts" --config "${dir}/broker.yaml"`;
  // sh execs deno, so the child's pid (and its /proc entries) are the broker's own.
  return await launch("sh", ["-c", command], { port: options.port, dir });
}
