/** The Broker's methods for instances that share one store (serverless isolates). */
import assert from "node:assert/strict";
import { Broker } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { MemoryStore } from "../../src/persistence/memory_store.ts";
import type { Mutation } from "../../src/persistence/store.ts";
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
  assert.equal(b.releaseSession("x"), true);
  const last = (await old.client.closedByBroker()).at(-1);
  assert.equal(last?.type, PacketType.DISCONNECT);
  assert.equal((last as { reasonCode: number }).reasonCode, Reason.SessionTakenOver);
  assert.equal(b.sessions.has("x"), false);
  assert.equal(b.tree.size, 0);
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(store.committed.slice(before), []);
  assert.equal(b.releaseSession("x"), false);
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
  b.releaseSession("now");
  assert.equal(text(await watcher.client.expect(PacketType.PUBLISH)), "now");
  await TestClient.connect(b, {
    clientId: "later",
    protocolLevel: 5,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
    will: will("later", 5),
  });
  b.releaseSession("later");
  clock.advance(10_000); // past the will delay: the timer is gone with the session
  assert.equal(await watcher.client.silentFor(50), true);
});
