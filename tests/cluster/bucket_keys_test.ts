import assert from "node:assert/strict";
import { eraseKey, listKeys } from "../../src/cluster/bucket_keys.ts";
import { natsTest } from "../_helpers/nats_cluster.ts";

natsTest(
  "keys are listed by the bucket's leader; an erased key leaves no tombstone behind, a deleted one does",
  async (nc) => {
    const kv = await nc.jetstream().views.kv("keys_test", { history: 1 });
    const jsm = await nc.jetstreamManager();
    const bytes = new TextEncoder().encode("v");
    for (const key of ["out.c.1", "out.c.2", "out.c.3", "out.d.1"]) await kv.put(key, bytes);
    assert.deepEqual((await listKeys(jsm, "keys_test", "out.c.*")).sort(), [
      "out.c.1",
      "out.c.2",
      "out.c.3",
    ]);
    await kv.delete("out.c.1");
    await eraseKey(jsm, "keys_test", "out.c.2");
    assert.equal(await kv.get("out.c.2"), null);
    // The tombstone of a KV delete stays listed (and would for every message ever delivered).
    assert.deepEqual((await listKeys(jsm, "keys_test", "out.c.*")).sort(), ["out.c.1", "out.c.3"]);
    assert.equal((await kv.get("out.c.1"))?.operation, "DEL");
  },
);
