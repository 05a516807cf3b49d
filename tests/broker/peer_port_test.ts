import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import type { PeerLink } from "../../src/broker/peers.ts";
import type { Authorizer } from "../../src/broker/security.ts";
import { MemoryStore } from "../../src/persistence/memory_store.ts";
import type { LoadedSession, Mutation, SnapshotStore } from "../../src/persistence/store.ts";
import { PacketType, Reason } from "../../src/protocol/packet.ts";
import { fakePeers } from "../_helpers/fake_peers.ts";
import { TestClient, text } from "../_helpers/test_client.ts";

/** Peers that route like the cluster (QoS 1/2 and share groups come back through them); `forward` as given. */
const streamPeers = (forward: PeerLink["forward"] = () => {}) => fakePeers({ forward }).link;

Deno.test("releasing a session to a peer closes its connection with 0x8E and forgets it, keeping the stored copy [MQTT-3.1.4-3]", async () => {
  const store = new MemoryStore();
  const broker = new Engine({ store });
  await broker.start();
  const { client } = await TestClient.connect(broker, {
    clientId: "mover",
    protocolLevel: 5,
    clean: false,
    properties: { sessionExpiryInterval: 300 },
  });
  await client.subscribe("m/#");
  assert.equal(await broker.peerPort.release("mover", "close"), true);
  const disconnect = await client.expect(PacketType.DISCONNECT);
  assert.equal(disconnect.reasonCode, Reason.SessionTakenOver);
  assert.equal(broker.sessions.has("mover"), false);
  assert.equal(broker.tree.size, 0);
  const stored = (await store.load()).sessions.find((s) => s.session.clientId === "mover");
  assert.deepEqual(stored?.subscriptions.map((s) => s.filter), ["m/#"]);
  assert.equal(await broker.peerPort.release("mover", "close"), false);
  await broker.close();
});

Deno.test("an adopted orphan session publishes its pending will at once and keeps queueing", async () => {
  const broker = new Engine({ store: new MemoryStore() });
  await broker.start();
  const { client: watcher } = await TestClient.connect(broker, { clientId: "w" });
  await watcher.subscribe("wills/#");
  broker.peerPort.adopt({
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
  }, { orphan: true });
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
  const broker = new Engine({ store: new MemoryStore(), limits: { maxQueuedMessages: 3 } });
  await broker.start();
  broker.peerPort.adopt(loadedSession("late", "m/#"), { orphan: true, routed: false });
  const missed = [1, 2, 3, 4, 5].map((n) => ({ message: durable("m/x", n), qos: 1 as const }));
  await broker.peerPort.admitMissed("late", missed);
  const session = broker.sessions.get("late")!;
  assert.deepEqual(session.queue.map((e) => e.message.streamSeq), [1, 2, 3]);
  assert.equal(broker.stats.dropped.queue_full, 2);
  await broker.close();
});

Deno.test("a session adopted unrouted gets nothing live until routing starts, and its missed messages come first", async () => {
  const broker = new Engine({ store: new MemoryStore() });
  await broker.start();
  broker.attachPeers(streamPeers());
  broker.peerPort.adopt(loadedSession("mover", "m/#"), { routed: false });
  await broker.peerPort.deliver(durable("m/x", 7));
  assert.equal(broker.sessions.get("mover")?.queue.length, 0);
  await broker.peerPort.admitMissed("mover", [{ message: durable("m/x", 8), qos: 1 }]);
  broker.peerPort.startRouting("mover");
  await broker.peerPort.deliver(durable("m/x", 9));
  const { client, connack } = await TestClient.connect(broker, { clientId: "mover", clean: false });
  assert.equal(connack.sessionPresent, true);
  const got = [await client.expect(PacketType.PUBLISH), await client.expect(PacketType.PUBLISH)];
  assert.deepEqual(got.map((p) => new TextDecoder().decode(p.payload)), ["8", "9"]);
  await broker.close();
});

Deno.test("with stream-routing peers (a cluster), QoS 1/2 messages reach local subscribers from the stream, not when accepted", async () => {
  const broker = new Engine();
  await broker.start();
  broker.attachPeers(streamPeers());
  const { client: sub } = await TestClient.connect(broker, { clientId: "sub" });
  await sub.subscribe("s/#", 1);
  await broker.publishInternal({ topic: "s/1", payload: new Uint8Array([1]), qos: 1, retain: false });
  await broker.publishInternal({ topic: "s/0", payload: new Uint8Array([0]), qos: 0, retain: false });
  assert.equal((await sub.expect(PacketType.PUBLISH)).topic, "s/0");
  await broker.peerPort.deliver(durable("s/1", 1), { own: true });
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
  const broker = new Engine({ store: new MemoryStore(), authorizer, limits: { maxQueuedMessages: 2 } });
  await broker.start();
  broker.attachPeers(streamPeers());
  const loaded = loadedSession("late", "m/#");
  broker.peerPort.adopt({ ...loaded, session: { ...loaded.session, username: "alice" } }, {
    orphan: true,
    routed: false,
  });
  const missed = [durable("m/secret", 1), durable("m/x", 2), durable("m/secret", 3), durable("m/x", 4)];
  await broker.peerPort.admitMissed("late", missed.map((message) => ({ message, qos: 1 as const })));
  broker.peerPort.startRouting("late");
  await broker.peerPort.deliver(durable("m/secret", 5));
  await broker.peerPort.deliver(durable("m/x", 6));
  // A denied message takes no place in the queue, and is not counted as dropped for lack of one.
  assert.deepEqual(broker.sessions.get("late")!.queue.map((e) => e.message.streamSeq), [2, 4]);
  assert.equal(broker.stats.dropped.queue_full, 1);
  await broker.close();
});

/** A durable store (so that failed commits are taken back) that refuses to store messages under "fail/". */
class FailingStore implements SnapshotStore {
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
  const broker = new Engine({ store: new FailingStore() });
  await broker.start();
  broker.attachPeers(streamPeers());
  broker.peerPort.adopt(loadedSession("late", "#"), { orphan: true, routed: false });
  await broker.peerPort.admitMissed("late", [{ message: durable("fail/1", 1), qos: 1 }]);
  broker.peerPort.startRouting("late");
  await broker.peerPort.deliver(durable("fail/2", 2));
  await broker.peerPort.deliver(durable("ok/3", 3));
  assert.deepEqual(broker.sessions.get("late")!.queue.map((e) => e.message.streamSeq), [3]);
  await broker.close();
});

Deno.test("a queued message taken back after a failed commit gives back the bytes it counted, properties included", async () => {
  const broker = new Engine({ store: new FailingStore() });
  await broker.start();
  broker.attachPeers(streamPeers());
  broker.peerPort.adopt(loadedSession("late", "#"), { orphan: true, routed: false });
  broker.peerPort.startRouting("late");
  const properties = { userProperties: [["k", "v".repeat(100)]] as [string, string][] };
  await broker.peerPort.deliver({ ...durable("fail/1", 1), properties });
  const session = broker.sessions.get("late")!;
  assert.equal(session.queue.length, 0);
  assert.equal(session.queuedBytes, 0);
  await broker.close();
});

Deno.test("a QoS 2 PUBLISH the cluster's stream never took is not remembered as received: its retransmission is forwarded again [MQTT-4.3.3-10]", async () => {
  const broker = new Engine({ store: new FailingStore() });
  await broker.start();
  let forwards = 0;
  broker.attachPeers(streamPeers((_message, batch) => {
    // The first stream publish fails for good (NATS without a majority past the retry deadline).
    if (++forwards === 1) {
      batch.awaited.push(new Promise((_, reject) => setTimeout(() => reject(new Error("no stream")), 10)));
    }
  }));
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

/** A MemoryStore that records every mutation committed to it. */
class RecordingStore extends MemoryStore {
  readonly committed: Mutation[] = [];
  override commit(mutations: Mutation[]): Promise<void> {
    this.committed.push(...mutations);
    return super.commit(mutations);
  }
}

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("a message delivered from a peer reaches local subscribers without running hooks or going back to the peers; the retained set follows the peers' without a store write", async () => {
  const store = new RecordingStore();
  const b = new Engine({ clock: new ManualClock(), store });
  const hooked: string[] = [];
  b.use({
    onPublish: (_c, m) => void hooked.push(m.topic),
    onPublished: (_c, m) => void hooked.push(m.topic),
  });
  await b.start();
  const { link, calls } = fakePeers({ routing: "local" });
  b.attachPeers(link);
  const sub = await TestClient.connect(b, { clientId: "sub" });
  await sub.client.subscribe("peer/#");
  const message = { topic: "peer/t", payload: bytes("hello"), qos: 0 as const, retain: true };
  await b.peerPort.deliver(message);
  b.peerPort.retainedChanged("peer/t", message);
  assert.equal(text(await sub.client.expect(PacketType.PUBLISH)), "hello");
  assert.equal(text(b.retained.get("peer/t") as never), "hello");
  b.peerPort.retainedChanged("peer/t", undefined);
  assert.equal(b.retained.get("peer/t"), undefined);
  assert.deepEqual(store.committed.filter((m) => m.kind.endsWith("Retained")), []);
  assert.deepEqual(hooked, []);
  assert.deepEqual(calls.forwarded, []);
  // Counted as received here, as any message this broker routes (own ones were counted when accepted).
  assert.equal(b.stats.messagesReceived, 1);
  await b.close();
});

Deno.test("a broker without retained messages keeps none of its peers' either", () => {
  const b = new Engine({ mqtt: { retainAvailable: false } });
  b.peerPort.retainedChanged("r", { topic: "r", payload: bytes("x"), qos: 0, retain: true });
  assert.equal(b.retained.size, 0);
});

Deno.test("released with 'detach', a session's connection closes as taken over (0x8E) and the session is forgotten without a store write [MQTT-3.1.4-3]", async () => {
  const store = new RecordingStore();
  const b = new Engine({ clock: new ManualClock(), store });
  await b.start();
  const old = await TestClient.connect(b, {
    clientId: "x",
    clean: false,
    protocolLevel: 5,
    properties: { sessionExpiryInterval: 3600 },
  });
  await old.client.subscribe("t/#");
  const before = store.committed.length;
  assert.equal(await b.peerPort.release("x", "detach"), true);
  const last = (await old.client.closedByBroker()).at(-1);
  assert.equal(last?.type, PacketType.DISCONNECT);
  assert.equal((last as { reasonCode: number }).reasonCode, Reason.SessionTakenOver);
  assert.equal(b.sessions.has("x"), false);
  assert.equal(b.tree.size, 0);
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(store.committed.slice(before), []);
  assert.equal(await b.peerPort.release("x", "detach"), false);
  await b.close();
});

const willOf = (payload: string, delay?: number) => ({
  topic: "wills/x",
  payload: bytes(payload),
  qos: 0 as const,
  retain: false,
  properties: delay === undefined ? undefined : { willDelayInterval: delay },
});

Deno.test("released with 'detach', a will without delay is published, and a delayed will is left to the new connection to cancel [MQTT-3.1.3-9]", async () => {
  const clock = new ManualClock();
  const b = new Engine({ clock });
  const watcher = await TestClient.connect(b, { clientId: "w" });
  await watcher.client.subscribe("wills/#");
  await TestClient.connect(b, { clientId: "now", protocolLevel: 5, will: willOf("now") });
  await b.peerPort.release("now", "detach");
  assert.equal(text(await watcher.client.expect(PacketType.PUBLISH)), "now");
  for (const clean of [false, true]) {
    await TestClient.connect(b, {
      clientId: `later-${clean}`,
      protocolLevel: 5,
      clean,
      properties: clean ? undefined : { sessionExpiryInterval: 60 },
      will: willOf("later", 5),
    });
    await b.peerPort.release(`later-${clean}`, "detach");
  }
  clock.advance(10_000); // past the will delay: the timer is gone with the session
  assert.equal(await watcher.client.silentFor(50), true);
});

Deno.test("released with 'close', a session's last state is stored for the peer and its will follows the rules of any takeover [MQTT-3.1.2-8] [MQTT-3.1.3-9]", async () => {
  const clock = new ManualClock();
  const store = new RecordingStore();
  const b = new Engine({ clock, store });
  await b.start();
  const watcher = await TestClient.connect(b, { clientId: "w" });
  await watcher.client.subscribe("wills/#");
  clock.advance(1000);
  await TestClient.connect(b, {
    clientId: "kept",
    protocolLevel: 5,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
    will: willOf("delayed", 5),
  });
  await b.peerPort.release("kept", "close");
  const stored = store.committed.findLast((m) => m.kind === "putSession" && m.session.clientId === "kept");
  assert.equal(stored?.kind === "putSession" && stored.session.disconnectedAt, clock.now());
  assert.equal(b.sessions.has("kept"), false);
  // The session ends here with its connection: its will goes now, delay or not.
  await TestClient.connect(b, { clientId: "ending", protocolLevel: 5, will: willOf("ending", 5) });
  await b.peerPort.release("ending", "close");
  assert.equal(text(await watcher.client.expect(PacketType.PUBLISH)), "ending");
  clock.advance(10_000); // the persistent session's delayed will went with its timer
  assert.equal(await watcher.client.silentFor(50), true);
  await b.close();
});

/** A session as a peer left it in a shared store: one subscription, one queued message. */
function storedElsewhere(clientId: string): LoadedSession {
  return {
    session: { clientId, protocolLevel: 5, expiryInterval: 3600, disconnectedAt: 0 },
    subscriptions: [{ filter: "t/#", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    outbound: [{
      seq: 1,
      packetId: 0,
      phase: "publish",
      qos: 1,
      message: { topic: "t/queued", payload: bytes("waiting"), qos: 1, retain: false },
    }],
    inbound: [],
  };
}

/** Peers whose claim adopts a stored session for the client ids in `elsewhere`. */
function claimingPeers(b: Engine, elsewhere: string[]) {
  return fakePeers({
    routing: "local",
    adoptsOrphans: false,
    claim: (clientId) => {
      if (elsewhere.includes(clientId) && b.peerPort.held(clientId) === undefined) {
        b.peerPort.adopt(storedElsewhere(clientId));
      }
      return Promise.resolve({ refused: false });
    },
  }).link;
}

Deno.test("a session the peers hand over on CONNECT is resumed: session present, its queue delivered, its subscriptions live [MQTT-3.2.2-2]", async () => {
  const b = new Engine({ clock: new ManualClock() });
  b.attachPeers(claimingPeers(b, ["roamer"]));
  const c = await TestClient.connect(b, {
    clientId: "roamer",
    clean: false,
    protocolLevel: 5,
    properties: { sessionExpiryInterval: 3600 },
  });
  assert.equal(c.connack.sessionPresent, true);
  assert.equal(text(await c.client.expect(PacketType.PUBLISH)), "waiting");
  await b.publish({ topic: "t/live", payload: "now", qos: 1 });
  assert.equal(text(await c.client.expect(PacketType.PUBLISH)), "now");
  const fresh = await TestClient.connect(b, { clientId: "fresh", clean: false });
  assert.equal(fresh.connack.sessionPresent, false);
  await b.close();
});

Deno.test("with Clean Start a session the peers hand over is discarded, which deletes its stored copy [MQTT-3.1.2-4]", async () => {
  const store = new RecordingStore();
  const b = new Engine({ clock: new ManualClock(), store });
  b.attachPeers(claimingPeers(b, ["roamer"]));
  await b.start();
  const c = await TestClient.connect(b, { clientId: "roamer", clean: true, protocolLevel: 5 });
  assert.equal(c.connack.sessionPresent, false);
  assert.equal(await c.client.silentFor(30), true, "the discarded queue was delivered");
  assert.ok(store.committed.some((m) => m.kind === "deleteSession" && m.clientId === "roamer"));
  await b.close();
});

Deno.test("a CONNECT whose session the peers keep for another user is refused with 0x85, and nothing is attached [MQTT-3.1.3-8]", async () => {
  const b = new Engine({ clock: new ManualClock() });
  b.attachPeers(fakePeers({ claim: () => Promise.resolve({ refused: true }) }).link);
  const c = await TestClient.connect(b, { clientId: "owned", protocolLevel: 5 });
  assert.equal(c.connack.reasonCode, Reason.ClientIdentifierNotValid);
  assert.equal(b.sessions.has("owned"), false);
  await b.close();
});

Deno.test("linked to peers, a broker tells them the filters it already routes and then every change, and forwards what it accepts", async () => {
  const b = new Engine({ clock: new ManualClock() });
  const early = b.subscribe("early/#");
  const { link, calls } = fakePeers();
  b.attachPeers(link);
  assert.deepEqual(calls.interest, ["+early/#"]);
  const c = await TestClient.connect(b, { clientId: "c", protocolLevel: 5 });
  await c.client.subscribe("$share/g/s/+");
  c.client.send({ type: PacketType.UNSUBSCRIBE, packetId: c.client.packetId(), filters: ["$share/g/s/+"] });
  await c.client.expect(PacketType.UNSUBACK);
  await early.cancel();
  assert.deepEqual(calls.interest, ["+early/#", "+g:s/+", "-g:s/+", "-early/#"]);
  assert.deepEqual(calls.claimed, ["c"]);
  await b.publish({ topic: "out/1", payload: "x" });
  assert.deepEqual(calls.forwarded, ["out/1"]);
  assert.throws(() => b.attachPeers(fakePeers().link), /already linked/);
  await b.close();
});

Deno.test("a v5 PUBACK says no matching subscribers (0x10) with peers that route locally, never with stream-routing peers, whose subscribers are not known here", async () => {
  for (const routing of ["local", "stream"] as const) {
    const b = new Engine({ clock: new ManualClock() });
    b.attachPeers(fakePeers({ routing }).link);
    const c = await TestClient.connect(b, { clientId: "pub", protocolLevel: 5 });
    c.client.publish("nobody/here", "x", { qos: 1 });
    const ack = await c.client.expect(PacketType.PUBACK);
    assert.equal(ack.reasonCode, routing === "local" ? Reason.NoMatchingSubscribers : Reason.Success);
    await b.close();
  }
});
