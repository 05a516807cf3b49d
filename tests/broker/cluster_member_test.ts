import assert from "node:assert/strict";
import { Broker } from "../../src/broker/broker.ts";
import type { Authorizer } from "../../src/broker/security.ts";
import { MemoryStore } from "../../src/persistence/memory_store.ts";
import type { Mutation, Store } from "../../src/persistence/store.ts";
import { PacketType, Reason } from "../../src/protocol/packet.ts";
import { TestClient } from "../_helpers/test_client.ts";

Deno.test("releasing a session to another node closes its connection with 0x8E and forgets it, keeping the stored copy [MQTT-3.1.4-3]", async () => {
  const store = new MemoryStore();
  const broker = new Broker({ store });
  await broker.start();
  const { client } = await TestClient.connect(broker, {
    clientId: "mover",
    protocolLevel: 5,
    clean: false,
    properties: { sessionExpiryInterval: 300 },
  });
  await client.subscribe("m/#");
  assert.equal(await broker.member.releaseSession("mover"), true);
  const disconnect = await client.expect(PacketType.DISCONNECT);
  assert.equal(disconnect.reasonCode, Reason.SessionTakenOver);
  assert.equal(broker.sessions.has("mover"), false);
  assert.equal(broker.tree.size, 0);
  const stored = (await store.load()).sessions.find((s) => s.session.clientId === "mover");
  assert.deepEqual(stored?.subscriptions.map((s) => s.filter), ["m/#"]);
  assert.equal(await broker.member.releaseSession("mover"), false);
  await broker.close();
});

Deno.test("an adopted orphan session publishes its pending will at once and keeps queueing", async () => {
  const broker = new Broker({ store: new MemoryStore() });
  await broker.start();
  const { client: watcher } = await TestClient.connect(broker, { clientId: "w" });
  await watcher.subscribe("wills/#");
  broker.member.adoptOrphan({
    session: {
      clientId: "orphan",
      protocolLevel: 4,
      expiryInterval: 600,
      will: {
        delay: 0,
        message: { topic: "wills/orphan", payload: new TextEncoder().encode("bye"), qos: 0, retain: false },
      },
    },
    subscriptions: [{ filter: "o/#", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    outbound: [],
    inbound: [],
  });
  const will = await watcher.expect(PacketType.PUBLISH);
  assert.equal(will.topic, "wills/orphan");
  await broker.publish({ topic: "o/1", payload: "kept", qos: 1 });
  assert.equal(broker.sessions.get("orphan")?.queue.length, 1);
  await broker.close();
});

const loadedSession = (clientId: string, filter: string) => ({
  session: { clientId, protocolLevel: 4 as const, expiryInterval: 600 },
  subscriptions: [{
    filter,
    qos: 1 as const,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0 as const,
  }],
  outbound: [],
  inbound: [],
});

const durable = (topic: string, n: number) => ({
  topic,
  payload: new TextEncoder().encode(String(n)),
  qos: 1 as const,
  retain: false,
  streamSeq: n,
});

Deno.test("messages a session missed while it changed node count against max_queued_messages, and the rest as queue_full", async () => {
  const broker = new Broker({ store: new MemoryStore(), limits: { maxQueuedMessages: 3 } });
  await broker.start();
  broker.member.adoptOrphan(loadedSession("late", "m/#"), false);
  const missed = [1, 2, 3, 4, 5].map((n) => ({ message: durable("m/x", n), qos: 1 as const }));
  await broker.member.admitMissed("late", missed);
  const session = broker.sessions.get("late")!;
  assert.deepEqual(session.queue.map((e) => e.message.streamSeq), [1, 2, 3]);
  assert.equal(broker.stats.dropped.queue_full, 2);
  await broker.close();
});

Deno.test("a session adopted unrouted gets nothing live until routing starts, and its missed messages come first", async () => {
  const broker = new Broker({ store: new MemoryStore() });
  await broker.start();
  broker.router.clustered = true;
  broker.member.adoptSession(loadedSession("mover", "m/#"), false);
  await broker.member.routeStream(durable("m/x", 7), false);
  assert.equal(broker.sessions.get("mover")?.queue.length, 0);
  await broker.member.admitMissed("mover", [{ message: durable("m/x", 8), qos: 1 }]);
  broker.member.startRouting("mover");
  await broker.member.routeStream(durable("m/x", 9), false);
  const { client, connack } = await TestClient.connect(broker, { clientId: "mover", clean: false });
  assert.equal(connack.sessionPresent, true);
  const got = [await client.expect(PacketType.PUBLISH), await client.expect(PacketType.PUBLISH)];
  assert.deepEqual(got.map((p) => new TextDecoder().decode(p.payload)), ["8", "9"]);
  await broker.close();
});

Deno.test("in a cluster, QoS 1/2 messages reach local subscribers from the stream, not when accepted", async () => {
  const broker = new Broker();
  await broker.start();
  broker.router.clustered = true;
  const { client: sub } = await TestClient.connect(broker, { clientId: "sub" });
  await sub.subscribe("s/#", 1);
  await broker.publishInternal({ topic: "s/1", payload: new Uint8Array([1]), qos: 1, retain: false });
  await broker.publishInternal({ topic: "s/0", payload: new Uint8Array([0]), qos: 0, retain: false });
  assert.equal((await sub.expect(PacketType.PUBLISH)).topic, "s/0");
  await broker.member.routeStream(durable("s/1", 1), true);
  assert.equal((await sub.expect(PacketType.PUBLISH)).topic, "s/1");
  // Its own message was counted when accepted, not again when the stream brings it back.
  assert.equal(broker.stats.messagesReceived, 2);
  await broker.close();
});

Deno.test("messages routed from the stream and messages a session missed are held to its user's read access, as live ones are", async () => {
  const authorizer: Authorizer = {
    authorize: () => true,
    authorizeDelivery: (_client, topic) => !topic.endsWith("/secret"),
  };
  const broker = new Broker({ store: new MemoryStore(), authorizer, limits: { maxQueuedMessages: 2 } });
  await broker.start();
  broker.router.clustered = true;
  const loaded = loadedSession("late", "m/#");
  broker.member.adoptOrphan({ ...loaded, session: { ...loaded.session, username: "alice" } }, false);
  const missed = [durable("m/secret", 1), durable("m/x", 2), durable("m/secret", 3), durable("m/x", 4)];
  await broker.member.admitMissed("late", missed.map((message) => ({ message, qos: 1 as const })));
  broker.member.startRouting("late");
  await broker.member.routeStream(durable("m/secret", 5), false);
  await broker.member.routeStream(durable("m/x", 6), false);
  // A denied message takes no place in the queue, and is not counted as dropped for lack of one.
  assert.deepEqual(broker.sessions.get("late")!.queue.map((e) => e.message.streamSeq), [2, 4]);
  assert.equal(broker.stats.dropped.queue_full, 1);
  await broker.close();
});

/** A durable store (so that failed commits are taken back) that refuses to store messages under "fail/". */
class FailingStore implements Store {
  readonly durable = true;
  readonly #inner = new MemoryStore();
  open() {
    return this.#inner.open();
  }
  load() {
    return this.#inner.load();
  }
  close() {
    return this.#inner.close();
  }
  commit(mutations: Mutation[]): Promise<void> {
    const failing = mutations.some((m) =>
      m.kind === "putOutbound" && m.entry.message.topic.startsWith("fail/")
    );
    return failing ? Promise.reject(new Error("injected store failure")) : this.#inner.commit(mutations);
  }
}

Deno.test("a message from the stream, or one a session missed, whose commit fails is taken back, as a live one is", async () => {
  const broker = new Broker({ store: new FailingStore() });
  await broker.start();
  broker.router.clustered = true;
  broker.member.adoptOrphan(loadedSession("late", "#"), false);
  await broker.member.admitMissed("late", [{ message: durable("fail/1", 1), qos: 1 }]);
  broker.member.startRouting("late");
  await broker.member.routeStream(durable("fail/2", 2), false);
  await broker.member.routeStream(durable("ok/3", 3), false);
  assert.deepEqual(broker.sessions.get("late")!.queue.map((e) => e.message.streamSeq), [3]);
  await broker.close();
});

Deno.test("a queued message taken back after a failed commit gives back the bytes it counted, properties included", async () => {
  const broker = new Broker({ store: new FailingStore() });
  await broker.start();
  broker.router.clustered = true;
  broker.member.adoptOrphan(loadedSession("late", "#"), false);
  broker.member.startRouting("late");
  const properties = { userProperties: [["k", "v".repeat(100)]] as [string, string][] };
  await broker.member.routeStream({ ...durable("fail/1", 1), properties }, false);
  const session = broker.sessions.get("late")!;
  assert.equal(session.queue.length, 0);
  assert.equal(session.queuedBytes, 0);
  await broker.close();
});

Deno.test("a QoS 2 PUBLISH the cluster's stream never took is not remembered as received: its retransmission is forwarded again [MQTT-4.3.3-10]", async () => {
  const broker = new Broker({ store: new FailingStore() });
  await broker.start();
  let forwards = 0;
  broker.attachCluster({
    forward: (_message, batch) => {
      // The first stream publish fails for good (NATS without a majority past the retry deadline).
      if (++forwards === 1) {
        batch.awaited.push(new Promise((_, reject) => setTimeout(() => reject(new Error("no stream")), 10)));
      }
    },
    claim: () => Promise.resolve({ refused: false }),
    settled: () => undefined,
  });
  const first = await TestClient.connect(broker, { clientId: "pub", clean: false });
  first.client.publish("q/1", "once", { qos: 2, packetId: 7 });
  const before = await first.client.closedByBroker();
  assert.ok(!before.some((p) => p.type === PacketType.PUBREC), "acknowledged what the stream never took");
  assert.equal(broker.sessions.get("pub")?.inbound2.has(7), false);
  const again = await TestClient.connect(broker, { clientId: "pub", clean: false });
  again.client.publish("q/1", "once", { qos: 2, packetId: 7, dup: true });
  assert.equal((await again.client.expect(PacketType.PUBREC)).packetId, 7);
  assert.equal(forwards, 2);
  await broker.close();
});
