/**
 * Authentication and ACLs in the real broker process: password file users,
 * anonymous refusal, ACL on publish and subscribe, SIGHUP reload of the
 * password file, and abuse limits (slowloris, connection flood).
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { hashPassword } from "../../src/auth/password_file.ts";
import { startBroker } from "../_helpers/broker_process.ts";

async function tryConnect(port: number, options: mqtt.IClientOptions): Promise<mqtt.MqttClient | number> {
  try {
    return await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      reconnectPeriod: 0,
      connectTimeout: 3000,
      ...options,
    });
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

Deno.test({
  name: "password file, ACL, reload and abuse limits in the running broker",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "auth-" });
    await Deno.writeTextFile(`${dir}/passwords`, `alice:${await hashPassword("wonderland", 1000)}\n`);
    await Deno.writeTextFile(`${dir}/acl`, "user alice\ntopic readwrite home/#\ntopic read $SYS/#\n");
    const broker = await startBroker({
      dir,
      yaml: `auth:\n  allow_anonymous: false\n  password_file: ${dir}/passwords\n  acl_file: ${dir}/acl\n` +
        "persistence:\n  type: memory\nlimits:\n  connect_timeout_ms: 500\n",
    });
    const clients: mqtt.MqttClient[] = [];
    try {
      await t.step("anonymous clients are refused: 3.1.1 with 0x05, v5 with 0x87", async () => {
        assert.equal(await tryConnect(broker.port, { protocolVersion: 4 }), 5);
        assert.equal(await tryConnect(broker.port, { protocolVersion: 5 }), 0x87);
      });
      await t.step("a wrong password is refused: 3.1.1 with 0x04, v5 with 0x86", async () => {
        assert.equal(
          await tryConnect(broker.port, { protocolVersion: 4, username: "alice", password: "x" }),
          4,
        );
        assert.equal(
          await tryConnect(broker.port, { protocolVersion: 5, username: "alice", password: "x" }),
          0x86,
        );
      });
      await t.step("alice gets in; the ACL limits what she may publish and subscribe", async () => {
        const c = await tryConnect(broker.port, {
          protocolVersion: 5,
          username: "alice",
          password: "wonderland",
        });
        assert.ok(typeof c !== "number", `connect failed: ${c}`);
        clients.push(c);
        const granted = await c.subscribeAsync("home/#", { qos: 1 });
        assert.deepEqual(granted.map((g) => g.qos), [1]);
        await assert.rejects(() => c.subscribeAsync("work/#", { qos: 1 }), /Not authorized/);
        const got = new Promise<string>((resolve) => c.once("message", (topic) => resolve(topic)));
        await assert.rejects(() => c.publishAsync("work/x", "no", { qos: 1 }), /Not authorized|135/);
        await c.publishAsync("home/lamp", "on", { qos: 1 });
        assert.equal(await got, "home/lamp");
      });
      await t.step("SIGHUP re-reads the password file without dropping connections", async () => {
        await Deno.writeTextFile(`${dir}/passwords`, `bob:${await hashPassword("builder", 1000)}\n`, {
          append: true,
        });
        broker.child.kill("SIGHUP");
        let ok = false;
        for (let i = 0; i < 40 && !ok; i++) {
          await new Promise((r) => setTimeout(r, 100));
          const c = await tryConnect(broker.port, {
            protocolVersion: 4,
            username: "bob",
            password: "builder",
          });
          if (typeof c !== "number") {
            ok = true;
            clients.push(c);
          }
        }
        assert.ok(ok, "bob can connect after the reload");
        assert.ok(clients[0].connected, "alice is still connected");
        assert.match(broker.output(), /Reloaded/);
      });
      await t.step(
        "a slowloris client trickling bytes is dropped at the connect timeout; others are served",
        async () => {
          const slow = await Deno.connect({ hostname: "127.0.0.1", port: broker.port });
          await slow.write(new Uint8Array([0x10, 0x7f])); // a CONNECT announcing 127 bytes, sent one by one
          const c = await tryConnect(broker.port, {
            protocolVersion: 4,
            username: "alice",
            password: "wonderland",
          });
          assert.ok(typeof c !== "number");
          clients.push(c);
          const buf = new Uint8Array(8);
          const start = Date.now();
          for (let i = 0; i < 20; i++) {
            try {
              await slow.write(new Uint8Array([0x00]));
            } catch {
              break;
            }
            await new Promise((r) => setTimeout(r, 100));
          }
          const eof = await slow.read(buf).catch(() => null);
          assert.equal(eof, null, "the broker closed the trickling connection");
          const elapsed = Date.now() - start;
          assert.ok(elapsed >= 300 && elapsed < 2500, `closed after ${elapsed} ms`);
          slow.close();
        },
      );
      await t.step("a flood of idle connections does not stop a well-behaved client", async () => {
        const flood = await Promise.all(
          Array.from({ length: 200 }, () => Deno.connect({ hostname: "127.0.0.1", port: broker.port })),
        );
        const c = await tryConnect(broker.port, {
          protocolVersion: 4,
          username: "alice",
          password: "wonderland",
        });
        assert.ok(typeof c !== "number");
        clients.push(c);
        await c.publishAsync("home/flood", "still here", { qos: 1 });
        for (const f of flood) f.close();
      });
    } finally {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
