/**
 * A write too large for one KV atomic still lands all or nothing: through a journal
 * whose head is the commit point, replayed when the store is opened after a crash.
 * The crash is simulated by a KV whose atomic commits start failing after a count.
 */
import assert from "node:assert/strict";
import { applyAtomically, JournalApplyError, replayJournals } from "../../src/persistence/kv_journal.ts";
import type { KvOp } from "../../src/persistence/kv_records.ts";
import { KvStore } from "../../src/persistence/kv_store.ts";
import type { Mutation } from "../../src/persistence/store.ts";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { PacketType } from "../../src/protocol/packet.ts";
import { TestClient } from "../_helpers/test_client.ts";

/**
 * `kv` whose atomic commits fail from the `failAt`-th on (1-based; counted from the
 * last `arm`, or from the start), as if the process died there.
 */
function dyingAfter(kv: Deno.Kv, failAt: number): Deno.Kv & { arm(failAt: number): void } {
  let commits = 0;
  let limit = failAt;
  return new Proxy(kv, {
    get(target, key) {
      if (key === "arm") {
        return (n: number) => {
          commits = 0;
          limit = n;
        };
      }
      if (key !== "atomic") {
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      }
      return () => {
        const atomic = target.atomic();
        const wrapped: Deno.AtomicOperation = new Proxy(atomic, {
          get(a, k) {
            if (k === "commit") {
              return () => ++commits >= limit ? Promise.reject(new Error("killed")) : a.commit();
            }
            const value = Reflect.get(a, k, a);
            if (typeof value !== "function") return value;
            // Chained calls (set().delete()) keep going through the wrapper.
            return (...args: unknown[]) => {
              const result = value.apply(a, args);
              return result === a ? wrapped : result;
            };
          },
        });
        return wrapped;
      };
    },
  }) as Deno.Kv & { arm(failAt: number): void };
}

/** 2500 small records: more than one atomic takes. */
const ops = (tag: string): KvOp[] =>
  Array.from({ length: 2500 }, (_, i) => ({ key: ["t", i], value: { tag, i }, size: 64 }));

async function count(kv: Deno.Kv, prefix: Deno.KvKey, tag?: string): Promise<number> {
  let n = 0;
  for await (const e of kv.list<{ tag: string }>({ prefix })) {
    if (tag === undefined || e.value.tag === tag) n++;
  }
  return n;
}

async function withKv(fn: (kv: Deno.Kv, path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kvjournal-" });
  const kv = await Deno.openKv(`${dir}/broker.kv`);
  try {
    await fn(kv, `${dir}/broker.kv`);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a write that fits one atomic needs no journal", async () => {
  await withKv(async (kv) => {
    await applyAtomically(kv, ops("a").slice(0, 900));
    assert.equal(await count(kv, ["t"]), 900);
    assert.equal(await count(kv, ["journal"]), 0);
  });
});

Deno.test("a large write that dies after its journal's head is replayed whole at the next open", async () => {
  await withKv(async (kv) => {
    await applyAtomically(kv, ops("old"));
    // Journal chunk atomics, then the head (commit point), then the first apply atomic dies.
    let failAt = 2;
    for (;; failAt++) {
      const attempt = applyAtomically(dyingAfter(kv, failAt), ops("new"));
      const error = await attempt.then(() => undefined, (e) => e);
      if (error instanceof JournalApplyError) break;
      assert.ok(failAt < 50, "never reached the commit point");
      // Died before the head: nothing of "new" may be visible.
      assert.equal(await count(kv, ["t"], "new"), 0);
      await replayJournals(kv);
      assert.equal(await count(kv, ["t"], "new"), 0);
    }
    assert.ok(await count(kv, ["t"], "new") < 2500, "partially applied before the replay");
    assert.equal(await replayJournals(kv), 1);
    assert.equal(await count(kv, ["t"], "new"), 2500);
    assert.equal(await count(kv, ["journal"]), 0);
  });
});

Deno.test("KvStore: a group commit too large for one atomic is all or nothing across a crash, and a broken store stops writing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kvjournal-" });
  const path = `${dir}/broker.kv`;
  try {
    const big = (tag: string) =>
      Array.from({ length: 1500 }, (_, i) => ({
        kind: "putRetained" as const,
        message: { topic: `m/${i}`, payload: new TextEncoder().encode(tag), qos: 0 as const, retain: true },
      }));
    const raw = await Deno.openKv(path);
    // The journal takes 1 atomic, its head 1: the 3rd commit (the first apply) dies.
    const store = new KvStore({ kv: dyingAfter(raw, 3) });
    await store.open();
    await assert.rejects(() => store.commit(big("v1")), JournalApplyError);
    await assert.rejects(
      () => store.commit([{ kind: "putInbound", clientId: "c", packetId: 1 }]),
      JournalApplyError,
      "a later write could be overwritten by the replay",
    );
    await store.close();
    raw.close();
    const again = new KvStore({ path });
    await again.open();
    const retained = (await again.load()).retained;
    await again.close();
    assert.equal(retained.length, 1500);
    assert.ok(retained.every((m) => new TextDecoder().decode(m.payload) === "v1"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Sessions for `count` offline persistent subscribers of "fan/#", written straight to the store. */
async function fanOut(path: string, count: number): Promise<void> {
  const store = new KvStore({ path });
  await store.open();
  const mutations: Mutation[] = [];
  for (let i = 0; i < count; i++) {
    const clientId = `sub-${i}`;
    mutations.push(
      {
        kind: "putSession",
        session: { clientId, protocolLevel: 5, expiryInterval: 3600 },
      },
      {
        kind: "putSubscription",
        clientId,
        subscription: {
          filter: "fan/#",
          qos: 2,
          noLocal: false,
          retainAsPublished: false,
          retainHandling: 0,
        },
      },
    );
  }
  await store.commit(mutations);
  await store.close();
}

for (const [when, failAt] of [["before", 2], ["after", 3]] as const) {
  Deno.test(`a QoS 2 PUBLISH to 1100 persistent subscribers, killed ${when} its commit point and resent after the restart, is queued once for each [MQTT-4.3.3-10]`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "kvjournal-fan-" });
    const path = `${dir}/broker.kv`;
    const subscribers = 1100; // 1100 queued entries + the inbound packet id: more than one atomic takes
    const publisher = {
      clientId: "pub",
      protocolLevel: 5 as const,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    };
    try {
      await fanOut(path, subscribers);
      const raw = await Deno.openKv(path);
      const kv = dyingAfter(raw, Infinity);
      let broker = new Engine({
        clock: new ManualClock(),
        store: new KvStore({ kv }),
        durability: "durable",
      });
      await broker.start();
      const first = await TestClient.connect(broker, publisher);
      // The session's own record first, then the PUBLISH: its commit needs the journal (1 atomic)
      // and the head (the commit point, 1), then the apply. "before": the head fails; "after": the apply.
      await first.client.subscribe("nothing", 0);
      kv.arm(failAt);
      first.client.publish("fan/1", "once", { qos: 2, packetId: 7 });
      await first.client.closedByBroker();
      await broker.close().catch(() => {});
      raw.close();

      // The process is gone; a new one opens the store and the publisher resends with DUP.
      broker = new Engine({ clock: new ManualClock(), store: new KvStore({ path }), durability: "durable" });
      await broker.start();
      const again = await TestClient.connect(broker, publisher);
      assert.equal(again.connack.sessionPresent, true);
      again.client.publish("fan/1", "once", { qos: 2, packetId: 7, dup: true });
      assert.equal((await again.client.expect(PacketType.PUBREC)).packetId, 7);
      const counts = new Map<number, number>();
      for (let i = 0; i < subscribers; i++) {
        const n = broker.sessions.get(`sub-${i}`)!.queue.length;
        counts.set(n, (counts.get(n) ?? 0) + 1);
      }
      assert.deepEqual([...counts], [[1, subscribers]], "queued copies per subscriber: count of subscribers");
      await broker.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
