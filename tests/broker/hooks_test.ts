import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import type { BrokerHook } from "../../src/broker/hooks.ts";
import { ConnackReturnCode, PacketType, Reason } from "../../src/protocol/packet.ts";
import { TestClient, text } from "../_helpers/test_client.ts";

const tick = (ms: number) => new Promise<"waiting">((r) => setTimeout(() => r("waiting"), ms));

async function waitFor(done: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await tick(2);
  }
}

function broker(hook: BrokerHook, clock = new ManualClock()) {
  return new Engine({ clock, hookTimeoutMs: 50 }).use(hook);
}

Deno.test("hooks: authenticate decides, and a hook that throws or times out on the broker's clock is a denial", async () => {
  const clock = new ManualClock();
  const b = broker({
    authenticate: (info) => {
      if (info.username === "ok") return { ok: true };
      if (info.username === "boom") throw new Error("hook bug");
      if (info.username === "slow") return new Promise(() => {});
      return { ok: false, reason: "bad_credentials" };
    },
  }, clock);
  assert.equal((await TestClient.connect(b, { clientId: "a", username: "ok" })).connack.reasonCode, 0);
  assert.equal(
    (await TestClient.connect(b, { clientId: "b", username: "no" })).connack.reasonCode,
    ConnackReturnCode.BadUserNameOrPassword,
  );
  assert.equal(
    (await TestClient.connect(b, { clientId: "c", username: "boom" })).connack.reasonCode,
    ConnackReturnCode.NotAuthorized,
  );
  // Only an answer still to come is timed, on the broker's clock (the CONNECT timer stops once
  // CONNECT arrives): real time passing beyond the timeout decides nothing.
  assert.equal(clock.pendingTimers, 0);
  const slow = TestClient.connect(b, { clientId: "d", username: "slow" });
  await waitFor(() => clock.pendingTimers === 1);
  clock.advance(49);
  assert.equal(await Promise.race([slow.then(() => "answered"), tick(120)]), "waiting");
  clock.advance(1);
  assert.equal((await slow).connack.reasonCode, ConnackReturnCode.NotAuthorized);
});

Deno.test("hooks: a decision that arrives in time clears its timer", async () => {
  const clock = new ManualClock();
  const b = broker({ authenticate: () => Promise.resolve({ ok: true }) }, clock);
  assert.equal((await TestClient.connect(b, { clientId: "a" })).connack.reasonCode, 0);
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("hooks: authorize hooks see where the client connects from and its protocol level; a will's, its session's level", async () => {
  const seen: string[] = [];
  const b = broker({
    authorizePublish: (c, topic) =>
      void seen.push(`pub ${c.clientId} ${c.remoteAddress} v${c.protocolLevel} ${topic}`),
    authorizeSubscribe: (c, filter) =>
      void seen.push(`sub ${c.clientId} ${c.remoteAddress} v${c.protocolLevel} ${filter}`),
  });
  const c = await TestClient.connect(b, { clientId: "x", protocolLevel: 5, remoteAddress: "10.0.0.7:4000" });
  await c.client.subscribe("s");
  c.client.publish("p", "1", { qos: 1 });
  await c.client.expect(PacketType.PUBACK);
  const dying = await TestClient.connect(b, {
    clientId: "y",
    protocolLevel: 4,
    will: { topic: "w", payload: new Uint8Array(0), qos: 0, retain: false },
    remoteAddress: "10.0.0.8:4000",
  });
  dying.client.drop();
  await waitFor(() => seen.length === 3);
  assert.deepEqual(seen, [
    "sub x 10.0.0.7:4000 v5 s",
    "pub x 10.0.0.7:4000 v5 p",
    "pub y  v4 w",
  ]);
});

Deno.test("hooks: an onPublish hook that throws on a broker publish drops that message and never reaches the caller", async () => {
  const b = broker({
    onPublish: (client, m) => {
      if (client === null && m.topic === "boom") throw new Error("hook bug");
    },
  });
  const sub = b.subscribe("#");
  await b.publish({ topic: "boom", payload: "lost" });
  await b.publish({ topic: "fine", payload: "kept" });
  const reader = sub.getReader();
  assert.equal((await reader.read()).value?.topic, "fine");
  await reader.cancel();
});

Deno.test("Broker.publish rejects a bad topic (it never throws synchronously)", async () => {
  const b = new Engine();
  let published: Promise<void> | undefined;
  assert.doesNotThrow(() => published = b.publish({ topic: "a/#", payload: "x" }));
  await assert.rejects(published!);
});

Deno.test("hooks: authorizePublish and authorizeSubscribe can refuse", async () => {
  const b = broker({
    authorizePublish: (_c, topic) => topic.startsWith("allowed") ? undefined : false,
    authorizeSubscribe: (_c, filter) => filter !== "forbidden",
  });
  const c = await TestClient.connect(b, { clientId: "x", protocolLevel: 5 });
  assert.deepEqual((await c.client.subscribe("forbidden")).reasonCodes, [Reason.NotAuthorized]);
  await c.client.subscribe("#");
  c.client.publish("denied", "x", { qos: 1 });
  assert.equal((await c.client.expect(PacketType.PUBACK)).reasonCode, Reason.NotAuthorized);
  c.client.publish("allowed", "y", { qos: 1 });
  const packets = [await c.client.next(), await c.client.next()];
  assert.ok(packets.some((p) => p.type === PacketType.PUBLISH && text(p) === "y"));
});

Deno.test("hooks: onPublish may rewrite or drop a message", async () => {
  const b = broker({
    onPublish: (_client, m) => {
      if (m.topic === "drop") return null;
      return { ...m, payload: new TextEncoder().encode(text(m as never).toUpperCase()) };
    },
  });
  const c = await TestClient.connect(b, { clientId: "x" });
  await c.client.subscribe("#");
  c.client.publish("drop", "gone");
  c.client.publish("keep", "shout");
  assert.equal(text(await c.client.expect(PacketType.PUBLISH)), "SHOUT");
});

Deno.test("hooks: lifecycle notifications arrive, in registration order, and a throwing one is harmless", async () => {
  const clock = new ManualClock();
  const events: string[] = [];
  const b = new Engine({ clock });
  b.use({ onConnect: () => void events.push("first") });
  b.use({
    onConnect: (c) => void events.push(`connect ${c.clientId}`),
    onDisconnect: (c, reason) => void events.push(`disconnect ${c.clientId} ${reason}`),
    onSubscribe: (_c, f, qos) => void events.push(`subscribe ${f} ${qos}`),
    onUnsubscribe: (_c, f) => void events.push(`unsubscribe ${f}`),
    onDeliver: (id, m) => void events.push(`deliver ${id} ${m.topic}`),
    onAck: (id, packetId) => void events.push(`ack ${id} ${packetId}`),
    onMessageDropped: (id, topic, why) => void events.push(`dropped ${id} ${topic} ${why}`),
    onSessionExpired: (id) => void events.push(`expired ${id}`),
  });
  b.use({
    onConnect: () => {
      throw new Error("ignored");
    },
  });
  const c = await TestClient.connect(b, {
    clientId: "h",
    protocolLevel: 5,
    properties: { sessionExpiryInterval: 10 },
  });
  await c.client.subscribe("t", 1);
  await b.publish({ topic: "t", payload: "x", qos: 1 });
  const got = await c.client.expect(PacketType.PUBLISH);
  c.client.send({ type: PacketType.PUBACK, packetId: got.packetId!, reasonCode: 0 });
  c.client.send({ type: PacketType.UNSUBSCRIBE, packetId: 9, filters: ["t"] });
  await c.client.expect(PacketType.UNSUBACK);
  await c.client.subscribe("q", 0);
  c.client.disconnect();
  await c.client.closedByBroker();
  await b.publish({ topic: "q", payload: "offline" });
  clock.advance(10_000);
  assert.deepEqual(events, [
    "first",
    "connect h",
    "subscribe t 1",
    "deliver h t",
    "ack h 1",
    "unsubscribe t",
    "subscribe q 0",
    "disconnect h client disconnected",
    "dropped h q offline_qos0",
    "expired h",
  ]);
});

Deno.test("hooks: onPublished sees client messages with their client and broker messages and wills without, never $SYS", async () => {
  const seen: string[] = [];
  const b = broker({
    onPublish: (_client, m) => m.topic === "dropped" ? null : undefined,
    onPublished: (client, m) =>
      void seen.push(`${client?.clientId ?? "broker"} ${m.topic} ${text(m as never)}`),
  });
  const c = await TestClient.connect(b, { clientId: "pub" });
  c.client.publish("from/client", "a", { qos: 1 });
  await c.client.expect(PacketType.PUBACK);
  c.client.publish("dropped", "never routed", { qos: 1 });
  await c.client.expect(PacketType.PUBACK);
  await b.publish({ topic: "from/broker", payload: "b" });
  await b.publishInternal(
    { topic: "$SYS/broker/uptime", payload: new Uint8Array(1), qos: 0, retain: true },
    false,
  );
  const dying = await TestClient.connect(b, {
    clientId: "dying",
    will: { topic: "wills/dying", payload: new TextEncoder().encode("w"), qos: 0, retain: false },
  });
  dying.client.drop();
  await dying.client.closedByBroker().catch(() => []);
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(seen, ["pub from/client a", "broker from/broker b", "broker wills/dying w"]);
});
