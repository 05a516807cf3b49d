import assert from "node:assert/strict";
import { SharedKvStore } from "../../src/serverless/shared_kv_store.ts";

Deno.test("SharedKvStore: instances open one KV together and start with its retained messages but no sessions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shared-kv-" });
  const a = new SharedKvStore({ path: `${dir}/shared.kv` });
  const b = new SharedKvStore({ path: `${dir}/shared.kv` });
  try {
    await a.open();
    await b.open();
    await a.commit([
      { kind: "putSession", session: { clientId: "elsewhere", protocolLevel: 5, expiryInterval: 60 } },
      { kind: "putRetained", message: { topic: "t", payload: new Uint8Array([1]), qos: 0, retain: true } },
    ]);
    const snapshot = await b.load();
    assert.deepEqual(snapshot.sessions, []);
    assert.deepEqual(snapshot.retained.map((m) => m.topic), ["t"]);
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});
