import assert from "node:assert/strict";
import { Broker } from "../../src/broker/broker.ts";
import { MemoryStore } from "../../src/persistence/memory_store.ts";
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
