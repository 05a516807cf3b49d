/**
 * Security changes reach clients already connected, in the real broker process:
 * SIGHUP with a narrower ACL stops delivery on existing subscriptions (and a
 * persistent session follows the file it finds after a restart); SIGHUP with a
 * user removed or its password changed disconnects that user; a banned attempt is
 * logged as banned and does not lock out other users of the address.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { hashPassword } from "../../src/auth/password_file.ts";
import { type BrokerProcess, startBroker } from "../_helpers/broker_process.ts";
import { waitFor } from "../_helpers/wait_for.ts";

function connect(port: number, options: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    connectTimeout: 5000,
    protocolVersion: 5,
    ...options,
  });
}

/** Sends SIGHUP and waits for the broker to log the reload (the n-th one). */
async function reload(broker: BrokerProcess, n: number): Promise<void> {
  broker.child.kill("SIGHUP");
  await waitFor(`reload ${n}`, () => broker.output().split("Reloaded:").length > n, 10_000);
}

/** Topics a client receives, in order. */
function collect(client: mqtt.MqttClient): string[] {
  const topics: string[] = [];
  client.on("message", (topic) => topics.push(topic));
  return topics;
}

const yaml = (dir: string, anonymous = false) =>
  `auth:\n  allow_anonymous: ${anonymous}\n  password_file: ${dir}/passwords\n  acl_file: ${dir}/acl\n` +
  `persistence:\n  type: kv\n  path: ${dir}/broker.kv\n`;

Deno.test({
  name:
    "SIGHUP revoking read access stops delivery on existing subscriptions, and a restart keeps it revoked",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "acl-reload-" });
    await Deno.writeTextFile(
      `${dir}/passwords`,
      `alice:${await hashPassword("a", 1000)}\npub:${await hashPassword("p", 1000)}\n`,
    );
    const acl = (alice: string) => `user alice\n${alice}\nuser pub\ntopic readwrite #\n`;
    await Deno.writeTextFile(`${dir}/acl`, acl("topic read home/#"));
    let broker = await startBroker({ dir, yaml: yaml(dir) });
    const port = broker.port;
    const clients: mqtt.MqttClient[] = [];
    try {
      const alice = await connect(port, {
        clientId: "alice",
        username: "alice",
        password: "a",
        clean: false,
        properties: { sessionExpiryInterval: 3600 },
      });
      const pub = await connect(port, { clientId: "pub", username: "pub", password: "p" });
      clients.push(alice, pub);
      const got = collect(alice);
      await alice.subscribeAsync("home/#", { qos: 1 });
      await pub.publishAsync("home/lamp", "1", { qos: 1 });
      await waitFor("home/lamp before the change", () => got.length === 1, 5000);

      await Deno.writeTextFile(`${dir}/acl`, acl("topic read home/door/#"));
      await reload(broker, 1);
      await pub.publishAsync("home/lamp", "2", { qos: 1 });
      await pub.publishAsync("home/door", "3", { qos: 1 });
      await waitFor("home/door after the change", () => got.length >= 2, 5000);
      assert.deepEqual(got, ["home/lamp", "home/door"], "home/lamp is withheld after SIGHUP");

      // Alice goes away; one message is queued for her session, then the broker stops.
      await alice.endAsync();
      await pub.publishAsync("home/door/queued", "4", { qos: 1 });
      await pub.endAsync();
      await broker.stop();
      // While it is down, her access to home/door is revoked and home/lamp granted.
      await Deno.writeTextFile(`${dir}/acl`, acl("topic read home/lamp/#"));
      broker = await startBroker({ dir, port, yaml: yaml(dir) });
      const pub2 = await connect(port, { clientId: "pub", username: "pub", password: "p" });
      clients.push(pub2);
      await pub2.publishAsync("home/door/live", "5", { qos: 1 });
      await pub2.publishAsync("home/lamp/live", "6", { qos: 1 });
      // Listening before CONNACK: the queued messages follow it at once.
      const back = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
        reconnectPeriod: 0,
        protocolVersion: 5,
        clientId: "alice",
        username: "alice",
        password: "a",
        clean: false,
        properties: { sessionExpiryInterval: 3600 },
      });
      clients.push(back);
      const after = collect(back);
      await new Promise((resolve) => back.once("connect", resolve));
      await pub2.publishAsync("home/lamp/end", "7", { qos: 1 });
      await waitFor("the last message after the restart", () => after.includes("home/lamp/end"), 5000);
      assert.deepEqual(after, ["home/lamp/live", "home/lamp/end"]);
    } finally {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "SIGHUP disconnects users removed or whose password changed (v5: DISCONNECT 0x87), and anonymous clients no longer allowed",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "auth-reload-" });
    const alice = `alice:${await hashPassword("a", 1000)}\n`;
    await Deno.writeTextFile(
      `${dir}/passwords`,
      alice + `bob:${await hashPassword("b", 1000)}\ncarol:${await hashPassword("c", 1000)}\n`,
    );
    await Deno.writeTextFile(`${dir}/acl`, "topic readwrite #\nuser alice\ntopic readwrite #\n");
    const broker = await startBroker({ dir, yaml: yaml(dir, true) });
    const clients: mqtt.MqttClient[] = [];
    try {
      const reasons = new Map<string, number>();
      const open = async (id: string, options: mqtt.IClientOptions) => {
        const c = await connect(broker.port, { clientId: id, ...options });
        c.on("disconnect", (packet) => reasons.set(id, packet.reasonCode ?? 0));
        clients.push(c);
        return c;
      };
      const a = await open("a", { username: "alice", password: "a" });
      const b = await open("b", { username: "bob", password: "b", protocolVersion: 4 });
      const c = await open("c", { username: "carol", password: "c" });
      const anon = await open("anon", {});
      await Deno.writeTextFile(`${dir}/passwords`, alice + `carol:${await hashPassword("new", 1000)}\n`);
      await Deno.writeTextFile(
        `${dir}/broker.yaml`,
        (await Deno.readTextFile(`${dir}/broker.yaml`)).replace(
          "allow_anonymous: true",
          "allow_anonymous: false",
        ),
      );
      await reload(broker, 1);
      await waitFor("the revoked clients to go", () => !b.connected && !c.connected && !anon.connected, 5000);
      assert.equal(reasons.get("c"), 0x87, "carol's password changed");
      assert.equal(reasons.get("anon"), 0x87, "anonymous clients are no longer allowed");
      assert.ok(a.connected, "alice's entry is unchanged");
      await a.publishAsync("still/here", "x", { qos: 1 });
      assert.match(broker.output(), /Disconnected 3 clients whose credentials were removed or changed/);
      await assert.rejects(connect(broker.port, { clientId: "c2", username: "carol", password: "c" }));
      clients.push(await connect(broker.port, { clientId: "c3", username: "carol", password: "new" }));
    } finally {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a banned attempt is logged as banned, and correct credentials of other users from the address get in",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "auth-ban-" });
    await Deno.writeTextFile(
      `${dir}/passwords`,
      `alice:${await hashPassword("a", 1000)}\nbob:${await hashPassword("b", 1000)}\n`,
    );
    await Deno.writeTextFile(`${dir}/acl`, "user bob\ntopic readwrite #\n");
    const broker = await startBroker({ dir, yaml: yaml(dir) });
    const clients: mqtt.MqttClient[] = [];
    try {
      const code = (options: mqtt.IClientOptions) =>
        connect(broker.port, options).then((c) => {
          clients.push(c);
          return 0;
        }, (err) => (err as { code?: number }).code ?? -1);
      for (let i = 0; i < 5; i++) {
        assert.equal(await code({ username: "alice", password: `guess${i}` }), 0x86);
      }
      assert.equal(await code({ username: "alice", password: "a" }), 0x8a, "alice's account is banned here");
      assert.match(broker.output(), /Refused \S* from 127\.0\.0\.1:\d+: banned/);
      assert.equal(await code({ username: "bob", password: "b" }), 0, "bob shares the address, not the ban");
    } finally {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
