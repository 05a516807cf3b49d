/**
 * Faults under load on three broker nodes over three NATS servers (JetStream R3). Numbered
 * QoS 1 and QoS 2 streams flow while (a) a persistent subscriber moves between nodes, (b) a
 * broker node is SIGKILLed and its subscribers come back elsewhere, one at once and one after
 * another node adopted its session, and (c) a NATS server is SIGKILLed and started again ((c)
 * runs before (b), which leaves a node dead). In each, every acknowledged message must arrive and
 * no QoS 2 message may arrive twice; (c) reports how long JetStream took to elect a new leader for
 * the stream and how long a publisher waited (docs/cluster.md records them).
 *
 * Subscribers are mqtt.js clients that keep their QoS 2 receive state (mqtt.js delivers a QoS 2
 * message on PUBREL) across reconnects, as an application that wants exactly once must.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { connect as natsConnect } from "nats";
import { type BrokerProcess, startBroker } from "../_helpers/broker_process.ts";
import { KeptStore } from "../_helpers/kept_store.ts";
import { hasNatsServer, type NatsCluster, startNatsCluster } from "../_helpers/nats_cluster.ts";
import { waitFor } from "../_helpers/wait_for.ts";

const available = hasNatsServer("the cluster fault test");
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Connects; `onMessage` is attached before CONNACK, as what a resumed session holds follows it at once. */
function open(
  port: number,
  options: mqtt.IClientOptions,
  onMessage?: (topic: string, payload: Uint8Array) => void,
): Promise<mqtt.MqttClient> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    connectTimeout: 30_000,
    ...options,
  });
  client.on("error", () => {});
  if (onMessage) client.on("message", onMessage);
  return new Promise((resolve, reject) => {
    client.once("connect", () => resolve(client));
    client.once("error", reject);
    client.once("close", () => reject(new Error(`connection to ${port} closed before CONNACK`)));
  });
}

/** Publishes `<stream>:<n>` one after another at a steady pace; records what was acknowledged, and when. */
class NumberedPublisher {
  readonly acked: number[] = [];
  /** The longest wait for one acknowledgement (ms): the stall a publisher saw. */
  longestMs = 0;
  #running = false;
  #done: Promise<void> = Promise.resolve();

  constructor(readonly client: mqtt.MqttClient, readonly topic: string, readonly qos: 1 | 2) {}

  start(intervalMs = 10): void {
    this.#running = true;
    this.#done = (async () => {
      for (let n = this.acked.length + 1; this.#running; n++) {
        const started = performance.now();
        await this.client.publishAsync(this.topic, `${this.topic}:${n}`, { qos: this.qos });
        this.longestMs = Math.max(this.longestMs, performance.now() - started);
        this.acked.push(n);
        await pause(intervalMs);
      }
    })();
  }

  /** Stops after the message in flight is acknowledged. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }
}

/** A persistent session that can move: each connection is a new mqtt.js client sharing one QoS 2 store. */
class RoamingSubscriber {
  readonly counts = new Map<string, number>();
  readonly #store = new KeptStore();
  client: mqtt.MqttClient | undefined;

  constructor(readonly clientId: string, readonly filter: string) {}

  /** Connects to `port`; the session must be there already unless `first`. */
  async connect(port: number, options: { first?: boolean; will?: mqtt.IClientOptions["will"] } = {}) {
    const client = await open(port, {
      clientId: this.clientId,
      clean: false,
      incomingStore: this.#store,
      will: options.will,
    }, (_topic, payload) => {
      const text = new TextDecoder().decode(payload);
      this.counts.set(text, (this.counts.get(text) ?? 0) + 1);
    });
    if (options.first) await client.subscribeAsync(this.filter, { qos: 2 });
    this.client = client;
    return client;
  }

  /** Moves to `port`: a DISCONNECT first, or (`takeover`) the new connection closes the old one. */
  async move(port: number, takeover: boolean): Promise<void> {
    const old = this.client!;
    if (!takeover) await old.endAsync();
    const client = await this.connect(port);
    assert.equal(client.connected, true);
    if (takeover) old.end(true);
  }

  /** Numbers acknowledged to `publisher` that never arrived here. */
  lost(publisher: NumberedPublisher): number[] {
    return publisher.acked.filter((n) => !this.counts.has(`${publisher.topic}:${n}`));
  }

  /** Messages of `publisher` that arrived more than once. */
  duplicates(publisher: NumberedPublisher): string[] {
    return [...this.counts].filter(([text, n]) => n > 1 && text.startsWith(`${publisher.topic}:`))
      .map(([text]) => text);
  }

  /** Waits until everything `publishers` had acknowledged has arrived (or the deadline). */
  async drain(publishers: NumberedPublisher[], timeoutMs = 30_000): Promise<void> {
    await waitFor(
      `${this.clientId} to receive every acknowledged message`,
      () => publishers.every((p) => this.lost(p).length === 0),
      timeoutMs,
    ).catch(() => {});
  }
}

function assertComplete(sub: RoamingSubscriber, q1: NumberedPublisher, q2: NumberedPublisher): void {
  assert.ok(q1.acked.length > 50 && q2.acked.length > 50, "the streams ran");
  assert.deepEqual(sub.lost(q1), [], `${sub.clientId}: acknowledged QoS 1 messages lost`);
  assert.deepEqual(sub.lost(q2), [], `${sub.clientId}: acknowledged QoS 2 messages lost`);
  assert.deepEqual(sub.duplicates(q2), [], `${sub.clientId}: QoS 2 messages delivered twice`);
}

/**
 * Node i starts on NATS server i (it learns the others from it), so that killing a server cuts off
 * a known node. The queue limit is raised: a session adopted after a node died is owed everything
 * published meanwhile, more than the default 1000 at these rates (beyond the limit it would be
 * dropped and counted, as for live messages).
 */
function clusterYaml(nats: NatsCluster, i: number): string {
  return `persistence: { type: memory }\nsys: { interval: 0 }\nadmin: { enabled: false }\n` +
    `limits: { max_queued_messages: 100000 }\n` +
    `cluster:\n  node_id: fault${i}\n  replicas: 3\n  nats: { servers: ["${nats.urls[i]}"] }\n`;
}

/** The NATS server (index) that leads the message stream, asked of the servers other than `except`. */
async function streamLeader(nats: NatsCluster, except = -1): Promise<number> {
  const nc = await natsConnect({ servers: nats.urls.filter((_, i) => i !== except) });
  try {
    // A short timeout: while JetStream has no leader its API does not answer, and the wait is measured.
    const jsm = await nc.jetstreamManager({ timeout: 500 });
    const leader = (await jsm.streams.info("MQTT_MSGS")).cluster?.leader;
    return nats.names.indexOf(leader ?? "");
  } finally {
    await nc.close();
  }
}

/** Time until the message stream has a leader other than the dead `victim` (JetStream's election). */
async function electionMs(nats: NatsCluster, victim: number, since: number): Promise<number> {
  for (;;) {
    const leader = await streamLeader(nats, victim).catch(() => -1);
    if (leader >= 0 && leader !== victim) return performance.now() - since;
    if (performance.now() - since > 60_000) throw new Error("the stream elected no leader in 60 s");
    await pause(50);
  }
}

Deno.test({
  name: "no acknowledged message is lost, nor a QoS 2 one doubled, when sessions move and processes die",
  ignore: !available,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const nats = await startNatsCluster(3);
    const nodes: BrokerProcess[] = [];
    const clients: mqtt.MqttClient[] = [];
    const publishers = async (port: number, prefix: string) => {
      const pub = await open(port, { clientId: `${prefix}-pub` });
      clients.push(pub);
      return [new NumberedPublisher(pub, `${prefix}/q1`, 1), new NumberedPublisher(pub, `${prefix}/q2`, 2)];
    };
    try {
      nodes.push(
        ...await Promise.all([0, 1, 2].map((i) => startBroker({ yaml: clusterYaml(nats, i), niceness: 10 }))),
      );
      const port = (i: number) => nodes[i].port;

      const passed: boolean[] = [];
      passed.push(
        await t.step("(a) a persistent subscriber moves between nodes while messages flow", async () => {
          const mover = new RoamingSubscriber("fa-mover", "fa/#");
          clients.push(await mover.connect(port(0), { first: true }));
          const [q1, q2] = await publishers(port(2), "fa");
          q1.start();
          q2.start();
          for (let move = 0; move < 4; move++) {
            await pause(400);
            await mover.move(port(move % 2 === 0 ? 1 : 0), move % 2 === 1);
            clients.push(mover.client!);
          }
          await pause(400);
          await Promise.all([q1.stop(), q2.stop()]);
          await mover.drain([q1, q2]);
          assertComplete(mover, q1, q2);
        }),
      );

      passed.push(
        await t.step("(c) a NATS server is SIGKILLed and started again while messages flow", async () => {
          // The server leading the stream: its death forces an election and cuts off the node on it,
          // which holds the subscriber and must read the stream again from where it was.
          const victim = await streamLeader(nats);
          assert.ok(victim >= 0, "the stream has a leader");
          const sub = new RoamingSubscriber("fc-sub", "fc/#");
          clients.push(await sub.connect(port(victim), { first: true }));
          const [q1, q2] = await publishers(port((victim + 1) % 3), "fc");
          q1.start();
          q2.start();
          await pause(500);
          await nats.kill(victim);
          const elected = await electionMs(nats, victim, performance.now());
          nats.restart(victim);
          // Until both streams have moved on well past the fault.
          const after = [q1.acked.length, q2.acked.length];
          await waitFor("the publishers to recover", () => q1.acked.length > after[0] + 100, 60_000);
          await waitFor("the publishers to recover", () => q2.acked.length > after[1] + 100, 60_000);
          await Promise.all([q1.stop(), q2.stop()]);
          await sub.drain([q1, q2]);
          const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
          console.log(
            `cluster faults (c): stream leader n${victim} killed; election ${secs(elected)}; longest ` +
              `publish QoS 1 ${secs(q1.longestMs)}, QoS 2 ${secs(q2.longestMs)}`,
          );
          assertComplete(sub, q1, q2);
          // The cut-off node says so, and that it is back.
          assert.match(nodes[victim].output(), /lost the NATS server/);
          assert.match(nodes[victim].output(), /reconnected to the NATS server/);
        }),
      );

      passed.push(
        await t.step(
          "(b) a broker node is SIGKILLed: one subscriber comes back elsewhere at once, one after adoption",
          async () => {
            const fast = new RoamingSubscriber("fb-fast", "fb/#");
            const late = new RoamingSubscriber("fb-late", "fb/#");
            clients.push(await fast.connect(port(0), { first: true }));
            const will = {
              topic: "fb-wills/late",
              payload: "adopted" as never,
              qos: 1 as const,
              retain: false,
            };
            clients.push(await late.connect(port(0), { first: true, will }));
            let adopted = false;
            const watcher = await open(port(1), { clientId: "fb-watcher" }, () => adopted = true);
            clients.push(watcher);
            await watcher.subscribeAsync("fb-wills/#", { qos: 1 });
            const [q1, q2] = await publishers(port(2), "fb");
            q1.start();
            q2.start();
            await pause(800);
            await nodes[0].kill();
            clients.push(await fast.connect(port(1)));
            // The node that adopts the session publishes its will: the session has a new home.
            await waitFor("the dead node's sessions to be adopted", () => adopted, 30_000);
            clients.push(await late.connect(port(2)));
            await pause(500);
            await Promise.all([q1.stop(), q2.stop()]);
            await Promise.all([fast.drain([q1, q2]), late.drain([q1, q2])]);
            assertComplete(fast, q1, q2);
            assertComplete(late, q1, q2);
          },
        ),
      );

      // What the nodes said is the first thing to read when this fails in CI.
      if (passed.includes(false)) nodes.forEach((n, i) => console.error(`--- node ${i} ---\n${n.output()}`));
    } finally {
      for (const c of clients) c.end(true);
      await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
      await nats.stop();
    }
  },
});
