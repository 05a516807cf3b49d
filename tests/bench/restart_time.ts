/**
 * Restart time: fills a KV file with N persistent sessions (one subscription each)
 * and N retained messages, then times Broker.start() on it.
 *
 *   deno run -A --unstable-kv tests/bench/restart_time.ts [N=100000]
 */
import { Engine } from "../../src/broker/broker.ts";
import { KvStore } from "../../src/persistence/kv_store.ts";
import type { Mutation } from "../../src/persistence/store.ts";

const n = Number(Deno.args[0] ?? 100_000);
const dir = await Deno.makeTempDir({ prefix: "restart-" });
const path = `${dir}/broker.kv`;
try {
  const fill = new KvStore({ path });
  await fill.open();
  const t0 = performance.now();
  for (let i = 0; i < n; i += 200) {
    const batch: Mutation[] = [];
    for (let j = i; j < Math.min(n, i + 200); j++) {
      batch.push(
        {
          kind: "putSession",
          session: {
            clientId: `client-${j}`,
            protocolLevel: 4,
            expiryInterval: 0xffffffff,
            disconnectedAt: Date.now(),
          },
        },
        {
          kind: "putSubscription",
          clientId: `client-${j}`,
          subscription: {
            filter: `devices/${j}/cmd`,
            qos: 1,
            noLocal: false,
            retainAsPublished: false,
            retainHandling: 0,
          },
        },
        {
          kind: "putRetained",
          message: { topic: `devices/${j}/state`, payload: new Uint8Array(64), qos: 1, retain: true },
        },
      );
    }
    await fill.commit(batch);
  }
  await fill.close();
  const filled = performance.now() - t0;
  const broker = new Engine({ store: new KvStore({ path }) });
  const t1 = performance.now();
  await broker.start();
  const started = performance.now() - t1;
  console.log(
    `${n} sessions + ${n} retained: written in ${(filled / 1000).toFixed(1)} s; ` +
      `restart (load + rebuild) ${
        (started / 1000).toFixed(2)
      } s; sessions=${broker.sessions.size} retained=${broker.retained.size}`,
  );
  await broker.close();
} finally {
  await Deno.remove(dir, { recursive: true });
}
