/** Every example runs as documented. */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { parseConfig } from "../src/config/load_config.ts";
import { startExample as startAuthHook } from "../examples/embedded_auth_hook.ts";
import { startExample as startHttp } from "../examples/http_publish.ts";
import { collect } from "../examples/subscribe_iterator.ts";

const root = new URL("../", import.meta.url).pathname;

Deno.test({
  name: "examples/embedded_auth_hook.ts: the hook admits demo users and limits their topics",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { broker, port } = await startAuthHook(0);
    try {
      await assert.rejects(() =>
        mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
          reconnectPeriod: 0,
          clientId: "x",
          username: "demo",
          password: "y",
        })
      );
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
        reconnectPeriod: 0,
        clientId: "x",
        username: "demo",
        password: "x",
        protocolVersion: 5,
      });
      await c.publishAsync("demo/ok", "1", { qos: 1 });
      await assert.rejects(() => c.publishAsync("other", "1", { qos: 1 }));
      await c.endAsync();
    } finally {
      await broker.close();
    }
  },
});

Deno.test({
  name: "examples/http_publish.ts: a POST publishes to MQTT subscribers",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const app = await startHttp(0, 0);
    try {
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.mqttPort}`, { reconnectPeriod: 0 });
      const got = new Promise<string>((resolve) => c.once("message", (t, p) => resolve(`${t}=${p}`)));
      await c.subscribeAsync("sensors/#", { qos: 1 });
      const res = await fetch(`http://127.0.0.1:${app.httpPort}/publish/sensors/kitchen/temp`, {
        method: "POST",
        body: "21.5",
      });
      assert.equal(res.status, 204);
      assert.equal(await got, "sensors/kitchen/temp=21.5");
      await c.endAsync();
    } finally {
      await app.close();
    }
  },
});

Deno.test("examples/subscribe_iterator.ts: for await yields the published readings", async () => {
  assert.deepEqual(await collect(3), [
    "sensors/room0/temp: 20",
    "sensors/room1/temp: 21",
    "sensors/room2/temp: 22",
  ]);
});

Deno.test("examples/tls_wss.yaml and examples/kv_persistent.yaml are valid configurations", async () => {
  const tls = parseConfig(await Deno.readTextFile(`${root}examples/tls_wss.yaml`), "tls_wss.yaml", {
    checkFiles: false,
  });
  assert.deepEqual(tls.listeners.map((l) => l.type), ["tcp", "tls", "wss"]);
  const kv = parseConfig(await Deno.readTextFile(`${root}examples/kv_persistent.yaml`), "kv_persistent.yaml");
  assert.equal(kv.persistence.type, "kv");
  assert.equal(kv.persistence.durability, "durable");
});

Deno.test("examples/bridge.yaml is a valid configuration with one bridge and three rules", async () => {
  const config = parseConfig(await Deno.readTextFile(`${root}examples/bridge.yaml`), "bridge.yaml");
  assert.deepEqual(config.bridges.map((b) => [b.name, b.address, b.protocol]), [[
    "hq",
    "127.0.0.1:1884",
    "mqttv5",
  ]]);
  assert.deepEqual(config.bridges[0].topics.map((t) => t.direction), ["out", "in", "both"]);
});
