import assert from "node:assert/strict";
import { ClusterNode, natsOf } from "../../src/cluster/cluster.ts";
import { listKeys } from "../../src/cluster/bucket_keys.ts";
import { decodeRetained, JetStreamStore } from "../../src/cluster/jetstream_store.ts";
import { connect, type JetStreamManager, type KV, NatsError } from "nats";
import type { StoredMessage } from "../../src/persistence/store.ts";
import { hasNatsServer, startNatsCluster } from "../_helpers/nats_cluster.ts";
import { runStoreSuite } from "../persistence/store_suite.ts";

const ignore = !hasNatsServer("the JetStream store test");

/** A JetStreamStore on buckets of its own, on a NATS server of its own. */
async function jetStreamFixture() {
  const nats = await startNatsCluster(1);
  const nc = await connect({ servers: nats.urls });
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  const sessions = await js.views.kv("suite_sessions", { history: 1, allow_direct: false });
  const retained = await js.views.kv("suite_retained", { history: 1 });
  const open = () => new JetStreamStore({ sessions, retained, jsm, sessionsBucket: "suite_sessions" });
  let current = open();
  return {
    store: current,
    /** What the cluster's retained watcher would see: every retained key still put. */
    async retained(): Promise<StoredMessage[]> {
      const found: StoredMessage[] = [];
      for await (const key of await retained.keys()) {
        const entry = await retained.get(key);
        if (entry?.operation === "PUT") found.push(decodeRetained(entry.value));
      }
      return found;
    },
    async reopen() {
      await current.close();
      current = open();
      await current.open();
      return current;
    },
    async cleanup() {
      await current.close();
      await nc.close();
      await nats.stop();
    },
  };
}

runStoreSuite("JetStreamStore", jetStreamFixture, {
  sanitize: false,
  skip: [
    {
      reason: "a shared store is claimed one session at a time: no broker restores all of it (no load())",
      tests: ["a snapshot holds every session and every retained message"],
    },
    ...(ignore ? [{ reason: "nats-server is not installed", tests: "all" as const }] : []),
  ],
});
const encoder = new TextEncoder();

const message = (topic: string, text: string): StoredMessage => ({
  topic,
  payload: encoder.encode(text),
  qos: 1,
  retain: false,
});

Deno.test({
  name: "the JetStream store keeps sessions and retained messages in shared KV buckets",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const nats = await startNatsCluster(1);
    const node = await ClusterNode.connect({ servers: nats.urls, nodeId: "store-test" });
    const store = natsOf(node).store;
    const clientId = "a client.with*odd>id";
    try {
      await t.step(
        "a session with subscriptions, queue and inbound ids loads back by client id",
        async () => {
          await store.commit([
            { kind: "putSession", session: { clientId, protocolLevel: 5, expiryInterval: 300 } },
            {
              kind: "putSubscription",
              clientId,
              subscription: {
                filter: "a/+/#",
                qos: 2,
                noLocal: false,
                retainAsPublished: true,
                retainHandling: 1,
              },
            },
            {
              kind: "putOutbound",
              clientId,
              entry: { seq: 2, packetId: 9, phase: "pubrel", qos: 2, message: message("a/x", "two") },
            },
            {
              kind: "putOutbound",
              clientId,
              entry: { seq: 1, packetId: 0, phase: "publish", qos: 1, message: message("a/y", "one") },
            },
            { kind: "putInbound", clientId, packetId: 12 },
          ]);
          const loaded = await store.loadSession(clientId);
          assert.equal(loaded?.session.expiryInterval, 300);
          assert.deepEqual(loaded?.subscriptions.map((s) => s.filter), ["a/+/#"]);
          assert.deepEqual(
            loaded?.outbound.map((e) => [e.seq, new TextDecoder().decode(e.message.payload)]),
            [
              [1, "one"],
              [2, "two"],
            ],
          );
          assert.deepEqual(loaded?.inbound, [12]);
        },
      );

      await t.step(
        "the session record alone reads back with its owner, and undefined when none is stored",
        async () => {
          const owned = "owned by alice";
          await store.commit([{
            kind: "putSession",
            session: { clientId: owned, protocolLevel: 4, expiryInterval: 60, username: "alice" },
          }]);
          assert.equal((await store.sessionRecord(owned))?.username, "alice");
          assert.equal(
            (await store.sessionRecord(clientId))?.username,
            undefined,
            "a record without an owner",
          );
          await store.commit([{ kind: "deleteSession", clientId: owned }]);
          assert.equal(await store.sessionRecord(owned), undefined);
          assert.equal(await store.sessionRecord("never seen"), undefined);
        },
      );

      await t.step(
        "deleting a session removes everything it owns, even puts earlier in the same commit",
        async () => {
          await store.commit([
            {
              kind: "putSubscription",
              clientId,
              subscription: {
                filter: "late",
                qos: 0,
                noLocal: false,
                retainAsPublished: false,
                retainHandling: 0,
              },
            },
            { kind: "deleteSession", clientId },
          ]);
          assert.equal(await store.loadSession(clientId), undefined);
          await store.commit([{
            kind: "putSession",
            session: { clientId, protocolLevel: 4, expiryInterval: 1 },
          }]);
          const fresh = await store.loadSession(clientId);
          assert.deepEqual([fresh?.subscriptions, fresh?.outbound, fresh?.inbound], [[], [], []]);
        },
      );

      await t.step(
        "retained messages are keyed by escaped topic and deleted by an empty retain",
        async () => {
          const kv = await natsOf(node).js.views.kv("mqtt_retained");
          await store.commit([{
            kind: "putRetained",
            message: { ...message("r/a.b/ c", "kept"), retain: true },
          }]);
          const entry = await kv.get("r.a_2Eb._20c");
          assert.equal(new TextDecoder().decode(decodeRetained(entry!.value).payload), "kept");
          await store.commit([{ kind: "deleteRetained", topic: "r/a.b/ c" }]);
          assert.notEqual((await kv.get("r.a_2Eb._20c"))?.operation, "PUT");
        },
      );

      await t.step("retained $SYS messages stay with their node and are not shared", async () => {
        const kv = await natsOf(node).js.views.kv("mqtt_retained");
        const uptime = { ...message("$SYS/broker/uptime", "1"), retain: true };
        await store.commit([{ kind: "putRetained", message: uptime }]);
        assert.equal(await kv.get("_24SYS.broker.uptime"), null);
      });

      await t.step(
        "a commit that deletes a queued message first records how far routing is stored",
        async () => {
          const sessions = await natsOf(node).js.views.kv("mqtt_sessions");
          const retained = await natsOf(node).js.views.kv("mqtt_retained");
          const seen: (string | undefined)[] = [];
          const recording = new JetStreamStore({
            sessions,
            retained,
            jsm: await natsOf(node).js.jetstreamManager(),
            sessionsBucket: "mqtt_sessions",
            beforeDeletes: async () => {
              // The entry is still stored while the progress is recorded.
              seen.push((await sessions.get("out.c1.1"))?.operation);
            },
          });
          const entry = {
            seq: 1,
            packetId: 3,
            phase: "publish" as const,
            qos: 1 as const,
            message: message("t", "x"),
          };
          await recording.commit([{ kind: "putOutbound", clientId: "c1", entry }]);
          assert.deepEqual(seen, []);
          await recording.commit([{ kind: "deleteOutbound", clientId: "c1", seq: 1 }]);
          assert.deepEqual(seen, ["PUT"]);
          assert.notEqual((await sessions.get("out.c1.1"))?.operation, "PUT");
          // Erased, not a tombstone: a session's listing does not grow with every message it was sent.
          assert.deepEqual(
            await listKeys(await natsOf(node).js.jetstreamManager(), "mqtt_sessions", "out.c1.*"),
            [],
          );
          await recording.close();
        },
      );
    } finally {
      await store.close();
      await node.close();
      await nats.stop();
    }
  },
});

/** A KV bucket in memory whose first `failures` writes time out, as while a NATS server dies. */
function flakyBucket(failures: number) {
  const values = new Map<string, Uint8Array>();
  let left = failures;
  const fail = () => left-- > 0 ? Promise.reject(new NatsError("timeout", "TIMEOUT")) : undefined;
  return {
    values,
    bucket: {
      put: (key: string, value: Uint8Array) => fail() ?? (values.set(key, value), Promise.resolve(1)),
      delete: (key: string) => fail() ?? (values.delete(key), Promise.resolve()),
    } as unknown as KV,
  };
}

Deno.test("a store write that times out while NATS recovers is retried, not failed", async () => {
  const sessions = flakyBucket(2);
  const retried: unknown[] = [];
  const store = new JetStreamStore({
    sessions: sessions.bucket,
    retained: flakyBucket(0).bucket,
    jsm: {} as JetStreamManager,
    sessionsBucket: "unused",
    onRetry: (err) => retried.push(err),
  });
  await store.commit([{
    kind: "putSession",
    session: { clientId: "c", protocolLevel: 4, expiryInterval: 9 },
  }]);
  assert.deepEqual([...sessions.values.keys()], ["s.c"]);
  assert.equal(retried.length, 2);
  assert.equal(store.failures, 0);
  await store.close();
});
