/** The Broker's methods for instances that share one store (serverless isolates). */
import assert from "node:assert/strict";
import { Broker } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { MemoryStore } from "../../src/persistence/memory_store.ts";
import type { LoadedSession, Mutation } from "../../src/persistence/store.ts";
import { PacketType, Reason } from "../../src/protocol/packet.ts";
import { TestClient, text } from "../_helpers/test_client.ts";

/** A MemoryStore that records every mutation committed to it. */
class RecordingStore extends MemoryStore {
  readonly committed: Mutation[] = [];
  override commit(mutations: Mutation[]): Promise<void> {
    this.committed.push(...mutations);
    return super.commit(mutations);
  }
}

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("routeFromPeer delivers to local subscribers and updates the retained index without writing it or running hooks", async () => {
  const store = new RecordingStore();
  const b = new Broker({ clock: new ManualClock(), store });
  const hooked: string[] = [];
  b.use({
    onPublish: (_c, m) => void hooked.push(m.topic),
    onPublished: (_c, m) => void hooked.push(m.topic),
  });
  await b.start();
  const sub = await TestClient.connect(b, { clientId: "sub" });
  await sub.client.subscribe("peer/#");
  await b.routeFromPeer({ topic: "peer/t", payload: bytes("hello"), qos: 0, retain: true });
  assert.equal(text(await sub.client.expect(PacketType.PUBLISH)), "hello");
  assert.equal(text(b.retained.get("peer/t") as never), "hello");
  await b.routeFromPeer({ topic: "peer/t", payload: new Uint8Array(0), qos: 0, retain: true });
  assert.equal(b.retained.get("peer/t"), undefined);
  assert.deepEqual(store.committed.filter((m) => m.kind.endsWith("Retained")), []);
  assert.deepEqual(hooked, []);
  await b.close();
});

Deno.test("releaseSession closes the local connection as taken over (0x8E) and forgets the session without a store write [MQTT-3.1.4-3]", async () => {
  const store = new RecordingStore();
  const b = new Broker({ clock: new ManualClock(), store });
  await b.start();
  const old = await TestClient.connect(b, {
    clientId: "x",
    clean: false,
    protocolLevel: 5,
    properties: { sessionExpiryInterval: 3600 },
  });
  await old.client.subscribe("t/#");
  const before = store.committed.length;
  assert.equal(await b.releaseSession("x"), true);
  const last = (await old.client.closedByBroker()).at(-1);
  assert.equal(last?.type, PacketType.DISCONNECT);
  assert.equal((last as { reasonCode: number }).reasonCode, Reason.SessionTakenOver);
  assert.equal(b.sessions.has("x"), false);
  assert.equal(b.tree.size, 0);
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(store.committed.slice(before), []);
  assert.equal(await b.releaseSession("x"), false);
  await b.close();
});

Deno.test("releaseSession publishes a will without delay, and a delayed will is cancelled by the new connection [MQTT-3.1.3-9]", async () => {
  const clock = new ManualClock();
  const b = new Broker({ clock });
  const watcher = await TestClient.connect(b, { clientId: "w" });
  await watcher.client.subscribe("wills/#");
  const will = (payload: string, delay?: number) => ({
    topic: "wills/x",
    payload: bytes(payload),
    qos: 0 as const,
    retain: false,
    properties: delay === undefined ? undefined : { willDelayInterval: delay },
  });
  await TestClient.connect(b, { clientId: "now", protocolLevel: 5, will: will("now") });
  await b.releaseSession("now");
  assert.equal(text(await watcher.client.expect(PacketType.PUBLISH)), "now");
  await TestClient.connect(b, {
    clientId: "later",
    protocolLevel: 5,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
    will: will("later", 5),
  });
  await b.releaseSession("later");
  clock.advance(10_000); // past the will delay: the timer is gone with the session
  assert.equal(await watcher.client.silentFor(50), true);
});

/** A session as another instance left it in a shared store: one subscription, one queued message. */
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

Deno.test("a session a loadSession hook finds elsewhere is resumed: session present, its queue delivered, its subscriptions live [MQTT-3.2.2-2]", async () => {
  const asked: string[] = [];
  const b = new Broker({ clock: new ManualClock() });
  b.use({
    loadSession: (clientId, clean) => {
      asked.push(`${clientId} clean=${clean}`);
      return Promise.resolve(clientId === "roamer" ? storedElsewhere(clientId) : undefined);
    },
  });
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
  // A session this broker already holds is not looked for elsewhere.
  c.client.disconnect();
  await TestClient.connect(b, { clientId: "roamer", clean: false, protocolLevel: 5 });
  assert.deepEqual(asked, ["roamer clean=false", "fresh clean=false"]);
});

Deno.test("with Clean Start a session found elsewhere is discarded, which deletes its stored copy [MQTT-3.1.2-4]", async () => {
  const store = new RecordingStore();
  const b = new Broker({ clock: new ManualClock(), store });
  b.use({ loadSession: (clientId) => Promise.resolve(storedElsewhere(clientId)) });
  await b.start();
  const c = await TestClient.connect(b, { clientId: "roamer", clean: true, protocolLevel: 5 });
  assert.equal(c.connack.sessionPresent, false);
  assert.equal(await c.client.silentFor(30), true, "the discarded queue was delivered");
  assert.ok(store.committed.some((m) => m.kind === "deleteSession" && m.clientId === "roamer"));
  await b.close();
});
