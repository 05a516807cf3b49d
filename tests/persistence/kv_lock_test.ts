/**
 * One broker process per KV file, and a restart right after kill -9: the lock is
 * a flock on `<store>.lock`, which the kernel drops with the process. The process
 * tests run main.ts under the start task's own permissions (deno.json), where
 * probing another process (/proc/<pid>) is not allowed.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { KvStore } from "../../src/persistence/kv_store.ts";
import { lockPath } from "../../src/persistence/kv_lock.ts";
import { freePort } from "../_helpers/broker_process.ts";
import { runAsTaskToExit, startAsTask } from "../_helpers/task_broker.ts";

const KV_YAML =
  "persistence:\n  type: kv\n  path: ./data/broker.kv\n  durability: durable\nlog:\n  level: info\n";

Deno.test("a second store on a locked file is refused with the holder's process id, and taken once released", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kvlock-" });
  const path = `${dir}/broker.kv`;
  const first = new KvStore({ path });
  await first.open();
  try {
    await assert.rejects(
      () => new KvStore({ path }).open(),
      new RegExp(`in use by another broker process \\(held by process ${Deno.pid} on `),
    );
    await first.close();
    const second = new KvStore({ path });
    await second.open();
    await second.close();
    // The lock file stays beside the store (removing it would let two processes lock two files).
    assert.ok((await Deno.stat(lockPath(path))).isFile);
  } finally {
    await first.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "under the start task's permissions the broker starts again at once after kill -9, and keeps its state",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "kvlock-task-" });
    const port = freePort();
    let broker = await startAsTask({ yaml: KV_YAML, dir, port });
    try {
      const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
      await pub.publishAsync("kept/value", "before the kill", { qos: 1, retain: true });
      await pub.endAsync();
      await broker.kill();
      // No waiting: the lease of the old scheme made this fail for 12–15 s.
      const killedAt = Date.now();
      broker = await startAsTask({ yaml: KV_YAML, dir, port });
      const restartMs = Date.now() - killedAt;
      assert.doesNotMatch(broker.output(), /in use by another broker process/);
      const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
      const got = new Promise<string>((resolve) => sub.on("message", (_t, p) => resolve(p.toString())));
      await sub.subscribeAsync("kept/#", { qos: 1 });
      assert.equal(await got, "before the kill");
      await sub.endAsync();
      console.log(`restart after kill -9 listening in ${restartMs} ms`);
    } finally {
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "under the start task's permissions a second live broker on the same store exits with a clear message",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "kvlock-task-" });
    const port = freePort();
    const broker = await startAsTask({ yaml: KV_YAML, dir, port });
    try {
      const second = await runAsTaskToExit({ yaml: KV_YAML, dir, configName: "second.yaml" });
      assert.equal(second.code, 1);
      assert.match(
        second.output,
        new RegExp(
          `in use by another broker process \\(held by process ${broker.child.pid} on .*set persistence\\.path`,
        ),
      );
      // The first one still serves.
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
      await c.publishAsync("still/here", "1", { qos: 1 });
      await c.endAsync();
    } finally {
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
