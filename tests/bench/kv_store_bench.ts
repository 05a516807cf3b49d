/** KvStore group commit: mutations per second with 1, 10 and 100 concurrent committers. */
import { KvStore } from "../../src/persistence/kv_store.ts";

const dir = await Deno.makeTempDir({ prefix: "kvbench-" });
const store = new KvStore({ path: `${dir}/bench.kv`, commitWindowMs: 2 });
await store.open();
const payload = new Uint8Array(64);
let seq = 0;

for (const committers of [1, 10, 100]) {
  Deno.bench(`${committers} concurrent commits of one 64 B outbound entry`, { group: "kv" }, async () => {
    await Promise.all(Array.from({ length: committers }, () =>
      store.commit([{
        kind: "putOutbound",
        clientId: "bench",
        entry: {
          seq: ++seq,
          packetId: 0,
          phase: "publish",
          qos: 1,
          message: { topic: "t", payload, qos: 1, retain: false },
        },
      }])));
  });
}

globalThis.addEventListener("unload", () => {
  store.close().then(() => Deno.removeSync(dir, { recursive: true }));
});
