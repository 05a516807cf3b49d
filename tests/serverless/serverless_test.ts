/**
 * The serverless broker: its fetch handler, several isolates (Workers sharing one
 * KV file and one BroadcastChannel name) with mqtt.js clients spread across them,
 * and the serverless.ts entry run by `deno serve`.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import denoJson from "../../deno.json" with { type: "json" };
import { hashPassword } from "../../src/auth/password_file.ts";
import { startServerless } from "../../src/serverless/serverless.ts";
import { freePort, launch } from "../_helpers/broker_process.ts";
import type { IsolateCommand, IsolateReply } from "../_helpers/isolate_worker.ts";
import { waitFor } from "../_helpers/wait_for.ts";

const root = new URL("../../", import.meta.url).pathname;

/** A serverless isolate in a Worker. */
class Isolate {
  readonly #worker = new Worker(new URL("../_helpers/isolate_worker.ts", import.meta.url), {
    type: "module",
  });
  port = 0;

  async start(kvPath: string, channel: string): Promise<this> {
    const reply = await this.#ask({ start: { kvPath, channel } });
    if (!("port" in reply)) throw new Error(`isolate did not start: ${JSON.stringify(reply)}`);
    this.port = reply.port;
    return this;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/mqtt`;
  }

  async stop(): Promise<void> {
    await this.#ask({ stop: true }).catch(() => {});
    this.#worker.terminate();
  }

  #ask(command: IsolateCommand): Promise<IsolateReply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("isolate did not answer within 10 s")), 10_000);
      this.#worker.onmessage = (event: MessageEvent<IsolateReply>) => {
        clearTimeout(timer);
        resolve(event.data);
      };
      this.#worker.postMessage(command);
    });
  }
}

/** Every message a client receives, as "topic payload". */
function inbox(client: mqtt.MqttClient): string[] {
  const got: string[] = [];
  client.on("message", (topic, payload) => got.push(`${topic} ${payload}`));
  return got;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("the fetch handler answers off its path with 404, a plain GET with 426, and no mqtt subprotocol with 400", async () => {
  const dir = await Deno.makeTempDir({ prefix: "serverless-" });
  const app = await startServerless({ kvPath: `${dir}/mqtt.kv`, channel: crypto.randomUUID() });
  try {
    assert.equal(app.fetch(new Request("http://host/")).status, 404);
    const plain = app.fetch(new Request("http://host/mqtt"));
    assert.equal(plain.status, 426);
    const headers = { upgrade: "websocket", "sec-websocket-protocol": "chat" };
    assert.equal(app.fetch(new Request("http://host/mqtt", { headers })).status, 400);
    await Promise.all([plain.text(), app.fetch(new Request("http://host/")).text()]);
  } finally {
    await app.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "isolates sharing a KV and a BroadcastChannel serve clients as one broker [MQTT-3.1.4-3]",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "serverless-isolates-" });
    const kvPath = `${dir}/shared.kv`;
    const channel = `isolates-${crypto.randomUUID()}`;
    const isolates: Isolate[] = [];
    const clients: mqtt.MqttClient[] = [];
    const connect = async (isolate: Isolate, options: mqtt.IClientOptions = {}) => {
      const client = await mqtt.connectAsync(isolate.url, {
        reconnectPeriod: 0,
        connectTimeout: 5000,
        ...options,
      });
      clients.push(client);
      return client;
    };
    try {
      const [a, b] = await Promise.all([
        new Isolate().start(kvPath, channel),
        new Isolate().start(kvPath, channel),
      ]);
      isolates.push(a, b);

      await t.step("a message published on isolate A reaches a subscriber on isolate B, once", async () => {
        const subscriber = await connect(b, { clientId: "sub-b" });
        const got = inbox(subscriber);
        await subscriber.subscribeAsync("room/#", { qos: 1 });
        const publisher = await connect(a, { clientId: "pub-a" });
        await publisher.publishAsync("room/1", "across", { qos: 1 });
        await waitFor("the message on B", () => got.length > 0);
        await sleep(100);
        assert.deepEqual(got, ["room/1 across"]);
      });

      await t.step(
        "a retained message set via A is seen by a new subscriber on B and on an isolate started later",
        async () => {
          const publisher = await connect(a, { clientId: "retainer" });
          await publisher.publishAsync("status/door", "open", { qos: 1, retain: true });
          await sleep(50);
          const onB = await connect(b, { clientId: "late-b" });
          const gotB = inbox(onB);
          await onB.subscribeAsync("status/#");
          await waitFor("the retained message on B", () => gotB.length > 0);
          assert.deepEqual(gotB, ["status/door open"]);
          // A new isolate has seen no broadcast: it has the message from KV.
          const c = await new Isolate().start(kvPath, channel);
          isolates.push(c);
          const onC = await connect(c, { clientId: "late-c" });
          const gotC = inbox(onC);
          await onC.subscribeAsync("status/#");
          await waitFor("the retained message on C", () => gotC.length > 0);
          assert.deepEqual(gotC, ["status/door open"]);
        },
      );

      await t.step(
        "a persistent session follows its client from A to B with its subscriptions and queued messages",
        async () => {
          const persistent = {
            clientId: "roamer",
            clean: false,
            protocolVersion: 5 as const,
            properties: { sessionExpiryInterval: 3600 },
          };
          const onA = await connect(a, persistent);
          await onA.subscribeAsync("roam/#", { qos: 1 });
          await onA.endAsync();
          const publisher = await connect(a, { clientId: "roam-publisher" });
          await publisher.publishAsync("roam/1", "queued on A", { qos: 1 });
          // Listen before the CONNACK: the queued message follows it at once.
          const onB = mqtt.connect(b.url, { reconnectPeriod: 0, connectTimeout: 5000, ...persistent });
          clients.push(onB);
          const got = inbox(onB);
          const connack = await new Promise<mqtt.IConnackPacket>((resolve) => onB.once("connect", resolve));
          assert.equal(connack.sessionPresent, true);
          await waitFor("the queued message on B", () => got.length > 0);
          await publisher.publishAsync("roam/2", "published on A after the move", { qos: 1 });
          await waitFor("the next message on B", () => got.length > 1);
          await sleep(100);
          assert.deepEqual(got, ["roam/1 queued on A", "roam/2 published on A after the move"]);
        },
      );

      await t.step(
        "a client id connecting on B closes its older connection on A with 0x8E [MQTT-3.1.4-3]",
        async () => {
          const older = await connect(a, { clientId: "same", protocolVersion: 5 });
          let reason: number | undefined;
          older.on("disconnect", (packet) => reason = packet.reasonCode);
          const closed = new Promise<void>((resolve) => older.once("close", () => resolve()));
          await sleep(5);
          const newer = await connect(b, { clientId: "same", protocolVersion: 5 });
          await closed;
          assert.equal(reason, 0x8e);
          await sleep(100);
          assert.equal(newer.connected, true, "the newer connection must stay");
        },
      );
    } finally {
      await Promise.all(clients.map((c) => c.endAsync(true)));
      await Promise.all(isolates.map((i) => i.stop()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the serverless task's permissions are the start task's minus --allow-sys, and it serves serverless.ts", () => {
  const permissions = (task: string) =>
    task.split(/\s+/).filter((w) => /^--(allow|unstable)-/.test(w)).sort();
  const { start, serverless } = denoJson.tasks;
  assert.deepEqual(permissions(serverless), permissions(start).filter((f) => f !== "--allow-sys"));
  assert.match(serverless, /^deno run .*serverless_local\.ts --host 127\.0\.0\.1 --port 8000$/);
});

Deno.test({
  name: "serverless.ts under deno serve takes users from MQTT_PASSWORDS and relays messages over WebSocket",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "serverless-entry-" });
    const port = freePort();
    const flags = denoJson.tasks.serverless.split(/\s+/).filter((w) => /^--(allow|unstable)-/.test(w));
    Deno.env.set("MQTT_KV_PATH", `${dir}/mqtt.kv`);
    Deno.env.set("MQTT_PASSWORDS", `ann:${await hashPassword("secret", 1000)}\n`);
    Deno.env.set("MQTT_CHANNEL", crypto.randomUUID());
    // The working directory is the temporary one: name the configuration (import map) explicitly.
    const args = [
      "serve",
      ...flags,
      "--config",
      `${root}deno.json`,
      "--host",
      "127.0.0.1",
      "--port",
      `${port}`,
      `${root}serverless.ts`,
    ];
    let program;
    try {
      program = await launch(Deno.execPath(), args, { port, dir });
    } finally {
      for (const name of ["MQTT_KV_PATH", "MQTT_PASSWORDS", "MQTT_CHANNEL"]) Deno.env.delete(name);
    }
    const url = `ws://127.0.0.1:${port}/mqtt`;
    try {
      await assert.rejects(() => mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 3000 }));
      const client = await mqtt.connectAsync(url, {
        reconnectPeriod: 0,
        username: "ann",
        password: "secret",
      });
      const got = inbox(client);
      await client.subscribeAsync("entry/+", { qos: 1 });
      await client.publishAsync("entry/1", "served", { qos: 1 });
      await waitFor("the message", () => got.length > 0);
      assert.deepEqual(got, ["entry/1 served"]);
      await client.endAsync();
      // SIGTERM ends the process (the channel and the KV would otherwise keep it alive).
      assert.equal((await program.stop()).code, 0, program.output());
    } finally {
      await program.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
