/**
 * Session handover between two broker nodes in this process, on one nats-server: a node
 * stops (its NATS connection closes without letting its sessions go) and the other adopts
 * its sessions, caught up on what the stream carried meanwhile; and sessions stay their
 * user's while they move (src/broker/session_owner.ts).
 */
import assert from "node:assert/strict";
import type { Engine } from "../../src/broker/broker.ts";
import { Broker, engineOf } from "../../src/public_broker.ts";
import type { ForeignSessionPolicy } from "../../src/broker/session_owner.ts";
import type { Authenticator, Authorizer } from "../../src/broker/security.ts";
import { ClusterNode, natsOf, STREAM } from "../../src/cluster/cluster.ts";
import { ownerKey, type OwnerRecord } from "../../src/cluster/handover.ts";
import { decodeRecord, encodeRecord } from "../../src/cluster/record_codec.ts";
import { identityHeader, takeoverSubject } from "../../src/cluster/takeover_request.ts";
import { PacketType, Reason } from "../../src/protocol/packet.ts";
import { TestClient, text } from "../_helpers/test_client.ts";
import { hasNatsServer, startNatsCluster } from "../_helpers/nats_cluster.ts";
import { waitFor } from "../_helpers/wait_for.ts";

const ignore = !hasNatsServer("the handover test");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Accepts any user with the password "<user>-pw". */
const users: Authenticator = {
  authenticate(info) {
    const password = info.password === undefined ? undefined : decoder.decode(info.password);
    const ok = info.username === undefined || password === `${info.username}-pw`;
    return Promise.resolve(ok ? { ok: true } : { ok: false, reason: "bad_credentials" });
  },
};

interface NodeOptions {
  maxQueuedMessages?: number;
  /** Past this (ms) a silent node is taken as dead and its sessions adopted (fast by default). */
  deadAfterMs?: number;
  foreignSession?: ForeignSessionPolicy;
  authorizer?: Authorizer;
}

/** A broker joined to the cluster, with fast heartbeats so that a stopped node is noticed soon. */
async function node(servers: string[], id: string, options: NodeOptions = {}) {
  const deadAfterMs = options.deadAfterMs ?? 1000;
  const cluster = await ClusterNode.connect({ servers, nodeId: id, heartbeatMs: 200, deadAfterMs });
  const broker = new Broker({
    store: cluster.store,
    limits: { maxQueuedMessages: options.maxQueuedMessages ?? 1000 },
    authenticator: users,
    authorizer: options.authorizer,
    foreignSession: options.foreignSession,
  });
  await broker.start();
  await cluster.join(broker, { logCategory: ["mqtt", "cluster", id] });
  // The engine inside, whose sessions the tests look at.
  return { cluster, broker: engineOf(broker) };
}

/** A persistent v5 session of `user` (password "<user>-pw"). */
function connectAs(broker: Engine, clientId: string, user: string, clean = false) {
  return TestClient.connect(broker, {
    clientId,
    protocolLevel: 5,
    clean,
    properties: { sessionExpiryInterval: 3600 },
    username: user,
    password: encoder.encode(`${user}-pw`),
  });
}

/** The owner record of `clientId`, as the sessions bucket holds it. */
async function ownerOf(cluster: ClusterNode, clientId: string) {
  const kv = await natsOf(cluster).js.views.kv("mqtt_sessions");
  const entry = await kv.get(ownerKey(clientId));
  return entry?.operation === "PUT"
    ? { record: decodeRecord<OwnerRecord>(entry.value), revision: entry.revision }
    : undefined;
}

/** `user`'s session: subscribed to `filter` at QoS 1, then offline. */
async function offlineSession(broker: Engine, clientId: string, user: string, filter: string) {
  const { client } = await connectAs(broker, clientId, user);
  await client.subscribe(filter, 1);
  client.disconnect();
  await waitFor("the session to be offline", () => broker.sessions.get(clientId)?.link === null, 15_000);
}

Deno.test({
  name: "what an adopted session missed counts against max_queued_messages, and the rest as queue_full",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const nats = await startNatsCluster(1);
    const a = await node(nats.urls, "a");
    const b = await node(nats.urls, "b", { maxQueuedMessages: 10 });
    try {
      const { client } = await TestClient.connect(a.broker, { clientId: "late", clean: false });
      await client.subscribe("cap/#", 1);
      client.disconnect();
      await waitFor("the session to be offline", () => a.broker.sessions.get("late")?.link === null, 15_000);
      // Node a stops: no takeover, no release; its heartbeat ages.
      await a.cluster.close();
      for (let i = 0; i < 30; i++) await b.broker.publish({ topic: "cap/x", payload: String(i), qos: 1 });
      const held = () => b.broker.sessions.get("late")?.queue.length ?? 0;
      await waitFor(
        "node b to adopt the session",
        () => held() + b.broker.stats.dropped.queue_full >= 30,
        15_000,
      );
      assert.equal(held(), 10);
      assert.equal(b.broker.stats.dropped.queue_full, 20);
      const kept = b.broker.sessions.get("late")!.queue.map((e) => decoder.decode(e.message.payload));
      assert.deepEqual(kept, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    } finally {
      await a.broker.close();
      await b.broker.close();
      await b.cluster.close();
      await nats.stop();
    }
  },
});

Deno.test({
  name: "a session stays its user's while it moves between nodes",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const nats = await startNatsCluster(1);
    // Nobody is taken as dead here: a stopped node's sessions wait for their clients.
    const slow = { deadAfterMs: 600_000 };
    const a = await node(nats.urls, "a", slow);
    const b = await node(nats.urls, "b", slow);
    const c = await node(nats.urls, "c", { ...slow, foreignSession: "discard" });
    let aStopped = false;
    try {
      await t.step(
        "the owner refuses another user's takeover request before it closes or lets go of anything; a request without the identity (an older node) is answered as before [MQTT-3.1.4-3]",
        async () => {
          const { client: alice } = await connectAs(a.broker, "held", "alice");
          const ask = async (headers?: ReturnType<typeof identityHeader>) => {
            const reply = await natsOf(b.cluster).nc.request(
              takeoverSubject(a.cluster.instance),
              encoder.encode("held"),
              {
                timeout: 5000,
                headers,
              },
            );
            return JSON.parse(decoder.decode(reply.data));
          };
          assert.deepEqual(await ask(identityHeader("eve")), { refused: true });
          assert.deepEqual(await ask(identityHeader(null)), { refused: true }, "an anonymous client");
          assert.equal(await alice.silentFor(100), true, "alice's connection was closed");
          assert.notEqual(a.broker.sessions.get("held")?.link, null, "alice's session was let go");
          const released = await ask();
          assert.equal(released.held, true);
          assert.equal(typeof released.cursor, "number");
          const [disconnect] = await alice.closedByBroker();
          assert.equal(
            disconnect?.type === PacketType.DISCONNECT && disconnect.reasonCode,
            Reason.SessionTakenOver,
          );
          assert.equal(a.broker.sessions.has("held"), false);
        },
      );

      await t.step(
        "a session that reaches a node unjudged (its owner, of an older version, let go without reading the identity) stays there offline for its user, caught up, and the CONNECT is refused",
        async () => {
          await natsOf(b.cluster).store.commit([
            {
              kind: "putSession",
              session: {
                clientId: "unjudged",
                protocolLevel: 5,
                expiryInterval: 3600,
                disconnectedAt: Date.now(),
                username: "alice",
              },
            },
            {
              kind: "putSubscription",
              clientId: "unjudged",
              subscription: {
                filter: "unjudged/#",
                qos: 1,
                noLocal: false,
                retainAsPublished: false,
                retainHandling: 0,
              },
            },
          ]);
          const jsm = await natsOf(b.cluster).js.jetstreamManager();
          const cursor = (await jsm.streams.info(STREAM)).state.last_seq;
          const sessions = await natsOf(b.cluster).js.views.kv("mqtt_sessions");
          await sessions.put(
            ownerKey("unjudged"),
            encodeRecord({ node: "old", instance: "old:1", at: Date.now() }),
          );
          // The older node answers every takeover request with "held", whoever asks.
          const older = natsOf(b.cluster).nc.subscribe(takeoverSubject("old:1"), {
            callback: (_err, msg) => msg.respond(encoder.encode(JSON.stringify({ held: true, cursor }))),
          });
          try {
            await b.broker.publish({ topic: "unjudged/1", payload: "while it moved", qos: 1 });
            const eve = await connectAs(b.broker, "unjudged", "eve");
            assert.equal(eve.connack.reasonCode, Reason.ClientIdentifierNotValid);
            const kept = b.broker.sessions.get("unjudged");
            assert.equal(kept?.owner, "alice");
            assert.equal(kept?.link, null);
            assert.notEqual(kept?.expiryTimer, undefined, "held as an orphan, its expiry running");
            assert.equal((await ownerOf(b.cluster, "unjudged"))?.record.instance, b.cluster.instance);
          } finally {
            older.unsubscribe();
          }
          const alice = await connectAs(b.broker, "unjudged", "alice");
          assert.equal(alice.connack.sessionPresent, true);
          assert.equal(text(await alice.client.expect(PacketType.PUBLISH)), "while it moved");
          alice.client.disconnect();
        },
      );

      await t.step(
        "a session whose catch-up on this node failed (its owner record names this node, with a replay point) is judged by its stored record, and Clean Start deletes it [MQTT-3.1.2-4]",
        async () => {
          await natsOf(b.cluster).store.commit([
            {
              kind: "putSession",
              session: { clientId: "stalled", protocolLevel: 5, expiryInterval: 3600, username: "alice" },
            },
            {
              kind: "putSubscription",
              clientId: "stalled",
              subscription: {
                filter: "stalled/#",
                qos: 1,
                noLocal: false,
                retainAsPublished: false,
                retainHandling: 0,
              },
            },
          ]);
          const sessions = await natsOf(b.cluster).js.views.kv("mqtt_sessions");
          const mine = { node: "b", instance: b.cluster.instance, at: Date.now(), replayFrom: 1 };
          await sessions.put(ownerKey("stalled"), encodeRecord(mine));
          const before = await ownerOf(b.cluster, "stalled");
          const eve = await connectAs(b.broker, "stalled", "eve", true);
          assert.equal(eve.connack.reasonCode, Reason.ClientIdentifierNotValid);
          assert.deepEqual(await ownerOf(b.cluster, "stalled"), before);
          const alice = await connectAs(b.broker, "stalled", "alice", true);
          assert.equal(alice.connack.reasonCode, Reason.Success);
          assert.equal(alice.connack.sessionPresent, false);
          alice.client.disconnect();
          await waitFor(
            "the session to be offline",
            () => b.broker.sessions.get("stalled")?.link === null,
            15_000,
          );
          assert.deepEqual((await natsOf(b.cluster).store.loadSession("stalled"))?.subscriptions, []);
        },
      );

      await t.step(
        "when the session's node is gone its stored record decides: another user is refused, Clean Start too, before this node records itself as owner; its user resumes it caught up",
        async () => {
          await offlineSession(a.broker, "orphan", "alice", "orphan/#");
          await offlineSession(a.broker, "discarded", "alice", "discarded/#");
          // Node a stops without letting its sessions go.
          await a.cluster.close();
          aStopped = true;
          await b.broker.publish({ topic: "orphan/1", payload: "for alice", qos: 1 });
          const before = await ownerOf(b.cluster, "orphan");
          assert.equal(before?.record.instance, a.cluster.instance);
          for (const clean of [false, true]) {
            const eve = await connectAs(b.broker, "orphan", "eve", clean);
            assert.equal(eve.connack.reasonCode, Reason.ClientIdentifierNotValid, `clean ${clean}`);
          }
          assert.deepEqual(await ownerOf(b.cluster, "orphan"), before, "the owner record was written");
          assert.equal(b.broker.sessions.has("orphan"), false);
          assert.equal((await natsOf(b.cluster).store.sessionRecord("orphan"))?.username, "alice");
          const alice = await connectAs(b.broker, "orphan", "alice");
          assert.equal(alice.connack.sessionPresent, true);
          assert.equal(text(await alice.client.expect(PacketType.PUBLISH)), "for alice");
          alice.client.disconnect();
        },
      );

      await t.step(
        "with foreign_session: discard, another user gets a gone node's offline session id afresh: the stored session is deleted and nothing of it reaches them",
        async () => {
          await c.broker.publish({ topic: "discarded/1", payload: "for alice", qos: 1 });
          const eve = await connectAs(c.broker, "discarded", "eve");
          assert.equal(eve.connack.reasonCode, Reason.Success);
          assert.equal(eve.connack.sessionPresent, false);
          assert.equal(await eve.client.silentFor(300), true, "eve received alice's message");
          const stored = await natsOf(c.cluster).store.loadSession("discarded");
          assert.equal(stored?.session.username, "eve");
          assert.deepEqual(stored?.subscriptions, []);
          assert.deepEqual(stored?.outbound, []);
          eve.client.disconnect();
        },
      );
    } finally {
      if (!aStopped) await a.cluster.close();
      for (const n of [a, b, c]) await n.broker.close();
      await b.cluster.close();
      await c.cluster.close();
      await nats.stop();
    }
  },
});

Deno.test({
  name:
    "read access is checked for messages routed from the stream and for what an adopted session is caught up on",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const nats = await startNatsCluster(1);
    const authorizer: Authorizer = {
      authorize: () => true,
      authorizeDelivery: (_client, topic) => !topic.endsWith("/secret"),
    };
    const a = await node(nats.urls, "a", { authorizer });
    const b = await node(nats.urls, "b", { authorizer, maxQueuedMessages: 5 });
    try {
      const { client: live } = await connectAs(b.broker, "live", "alice");
      await live.subscribe("live/#", 1);
      await a.broker.publish({ topic: "live/secret", payload: "no", qos: 1 });
      await a.broker.publish({ topic: "live/open", payload: "yes", qos: 1 });
      const first = await live.expect(PacketType.PUBLISH);
      assert.equal(first.topic, "live/open");
      live.disconnect();

      await offlineSession(a.broker, "late", "alice", "cap/#");
      // Node a stops: b adopts the session and catches it up on what follows.
      await a.cluster.close();
      for (let i = 0; i < 8; i++) {
        await b.broker.publish({ topic: "cap/secret", payload: `secret ${i}`, qos: 1 });
        await b.broker.publish({ topic: "cap/x", payload: String(i), qos: 1 });
      }
      const held = () => b.broker.sessions.get("late")?.queue.length ?? 0;
      await waitFor(
        "node b to adopt the session",
        () => held() + b.broker.stats.dropped.queue_full >= 8,
        15_000,
      );
      // The denied messages take no place in the queue: the first five readable ones do.
      const kept = b.broker.sessions.get("late")!.queue.map((e) => decoder.decode(e.message.payload));
      assert.deepEqual(kept, ["0", "1", "2", "3", "4"]);
      assert.equal(b.broker.stats.dropped.queue_full, 3);
    } finally {
      await a.broker.close();
      await b.broker.close();
      await b.cluster.close();
      await nats.stop();
    }
  },
});
