import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { PacketType, Reason } from "../../src/protocol/packet.ts";
import { TestClient } from "../_helpers/test_client.ts";

Deno.test("the admin view lists clients, sessions and their subscriptions, sizes and pending messages", async () => {
  const clock = new ManualClock();
  const broker = new Engine({ clock, version: "1.2.3" });
  const { client } = await TestClient.connect(broker, {
    clientId: "alice-phone",
    username: "alice",
    protocolLevel: 5,
    clean: false,
    keepAlive: 30,
    properties: { sessionExpiryInterval: 60 },
    remoteAddress: "10.1.1.1:5000",
  });
  await client.subscribe([{ filter: "a/#", qos: 1 }, { filter: "$share/g/b/+", qos: 0 }], 0, {
    subscriptionIdentifiers: [7],
  });
  client.disconnect();
  await client.closedByBroker();
  await broker.publish({ topic: "a/1", payload: "q", qos: 1 });
  await broker.publish({ topic: "r", payload: "kept", retain: true });
  const { client: live } = await TestClient.connect(broker, { clientId: "live", protocolLevel: 4 });
  clock.advance(1500);
  const admin = broker.admin;
  assert.equal(admin.version, "1.2.3");
  assert.equal(admin.uptimeMs(), 1500);
  // The connected clean session counts while its client is connected.
  assert.deepEqual(admin.sizes(), { sessions: 2, subscriptions: 2, retained: 1 });
  assert.deepEqual(admin.clients().map((c) => [c.clientId, c.protocolLevel, c.bridge]), [["live", 4, false]]);
  const alice = admin.session("alice-phone");
  assert.equal(alice?.connected, false);
  assert.equal(alice.username, "alice");
  assert.equal(alice.queued, 1);
  assert.deepEqual(alice.subscriptions.map((s) => [s.filter, s.group, s.subscriptionId]), [
    ["a/#", undefined, 7],
    ["$share/g/b/+", "g", 7],
  ]);
  assert.deepEqual(admin.subscriptions().map((s) => s.clientId), ["alice-phone", "alice-phone"]);
  assert.deepEqual(admin.subscriptions("live"), []);
  const pending = admin.pendingMessages();
  assert.deepEqual([pending.inflight, pending.queued], [0, 1]);
  assert.ok(pending.queuedBytes >= 1, "the queued payload counts");
  assert.equal(admin.retained("#").length, 1);
  assert.equal(admin.session("nobody"), undefined);
  live.disconnect();
  await broker.close();
});

Deno.test("administrative actions: disconnect (0x98) keeps the session, removeSession deletes it, revokeClients closes with 0x87", async () => {
  const broker = new Engine({ clock: new ManualClock() });
  const v5 = { protocolLevel: 5 as const, clean: false, properties: { sessionExpiryInterval: 60 } };
  const a = await TestClient.connect(broker, { clientId: "a", ...v5 });
  assert.equal(broker.admin.disconnect("a"), true);
  const closed = (await a.client.closedByBroker()).at(-1) as { type: number; reasonCode: number };
  assert.deepEqual([closed.type, closed.reasonCode], [PacketType.DISCONNECT, Reason.AdministrativeAction]);
  assert.equal(broker.admin.disconnect("a"), false, "not connected any more");
  assert.notEqual(broker.admin.session("a"), undefined);
  assert.equal(await broker.admin.removeSession("a"), true);
  assert.equal(broker.admin.session("a"), undefined);
  assert.equal(await broker.admin.removeSession("a"), false);
  const b = await TestClient.connect(broker, { clientId: "b", username: "bob", ...v5 });
  const c = await TestClient.connect(broker, { clientId: "c", username: "carol", ...v5 });
  assert.deepEqual(broker.admin.revokeClients((client) => client.username === "bob"), ["b"]);
  const revoked = (await b.client.closedByBroker()).at(-1) as { reasonCode: number };
  assert.equal(revoked.reasonCode, Reason.NotAuthorized);
  assert.equal(broker.admin.clients().map((x) => x.clientId).join(), "c");
  c.client.disconnect();
  await broker.close();
});
