/**
 * A session belongs to the user that created it: another user presenting its client
 * id gets neither the session, its queued nor its live messages, and cannot close
 * the owner's connection.
 */
import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { judgeOwner } from "../../src/broker/session_owner.ts";
import type { Authenticator } from "../../src/broker/security.ts";
import { KvStore } from "../../src/persistence/kv_store.ts";
import { decodePacket, encodePacket } from "../../src/protocol/codec.ts";
import { FrameSplitter } from "../../src/protocol/frame_stream.ts";
import {
  type ConnackPacket,
  ConnackReturnCode,
  PacketType,
  type ProtocolLevel,
  Reason,
} from "../../src/protocol/packet.ts";
import { memorySocketPair } from "../_helpers/memory_socket.ts";
import { TestClient, text } from "../_helpers/test_client.ts";

const encoder = new TextEncoder();

/** Accepts any user with the password "<user>-pw", certificate holders, and anonymous clients. */
const users: Authenticator = {
  authenticate(info) {
    const password = info.password === undefined ? undefined : new TextDecoder().decode(info.password);
    // No user name, or a verified certificate standing in for one (as the file authenticator treats it).
    if (info.username === undefined || info.username === info.certificateIdentity) {
      return Promise.resolve({ ok: true });
    }
    const ok = password === `${info.username}-pw`;
    return Promise.resolve(ok ? { ok: true } : { ok: false, reason: "bad_credentials" });
  },
};

function newBroker(options: { foreignSession?: "refuse" | "discard"; store?: KvStore } = {}) {
  return new Engine({ clock: new ManualClock(), authenticator: users, ...options });
}

const as = (username: string | undefined) =>
  username === undefined ? {} : { username, password: encoder.encode(`${username}-pw`) };

/** Connects a persistent session (v5, 1 h expiry, or 3.1.1 clean=false). */
function persistent(broker: Engine, clientId: string, user: string | undefined, level: ProtocolLevel = 5) {
  return TestClient.connect(broker, {
    clientId,
    protocolLevel: level,
    clean: false,
    properties: level === 5 ? { sessionExpiryInterval: 3600 } : undefined,
    ...as(user),
  });
}

/** alice subscribes to secret/#, goes offline, and one message is queued for her. */
async function aliceWithQueuedMessage(broker: Engine): Promise<void> {
  const { client } = await persistent(broker, "shared-id", "alice");
  await client.subscribe("secret/#", 1);
  client.disconnect();
  await client.closedByBroker();
  await broker.publish({ topic: "secret/1", payload: "for alice only", qos: 1 });
}

Deno.test("judgeOwner: the same identity, or an unknown owner, resumes; another is refused, or discarded when offline and so configured", () => {
  assert.equal(judgeOwner("alice", "alice", true, "refuse"), "resume");
  assert.equal(judgeOwner(null, null, false, "refuse"), "resume");
  assert.equal(judgeOwner(undefined, "eve", false, "refuse"), "resume");
  assert.equal(judgeOwner("alice", "eve", false, "refuse"), "refuse");
  assert.equal(judgeOwner("alice", null, false, "refuse"), "refuse");
  assert.equal(judgeOwner(null, "eve", false, "refuse"), "refuse");
  assert.equal(judgeOwner("alice", "eve", false, "discard"), "discard");
  assert.equal(judgeOwner("alice", "eve", true, "discard"), "refuse");
});

Deno.test("v5: another user presenting an offline session's client id is refused with 0x85 and gets nothing of it [MQTT-3.1.3-8]", async () => {
  const broker = newBroker();
  await aliceWithQueuedMessage(broker);
  const eve = await persistent(broker, "shared-id", "eve");
  assert.equal(eve.connack.reasonCode, Reason.ClientIdentifierNotValid);
  assert.equal(eve.connack.sessionPresent, false);
  const after = await eve.client.closedByBroker();
  assert.deepEqual(after.map((p) => p.type), [], "no PUBLISH before the close");
  // The session is untouched: alice resumes it and gets her message.
  const alice = await persistent(broker, "shared-id", "alice");
  assert.equal(alice.connack.sessionPresent, true);
  assert.equal(text(await alice.client.expect(PacketType.PUBLISH)), "for alice only");
  await broker.close();
});

Deno.test("3.1.1: another user presenting a session's client id is refused with return code 2 [MQTT-3.1.3-8]", async () => {
  const broker = newBroker();
  await aliceWithQueuedMessage(broker);
  const eve = await persistent(broker, "shared-id", "eve", 4);
  assert.equal(eve.connack.reasonCode, ConnackReturnCode.IdentifierRejected);
  assert.equal(eve.connack.sessionPresent, false);
  await eve.client.closedByBroker();
  await broker.close();
});

Deno.test("another user cannot close the owner's connection, nor receive its live messages [MQTT-3.1.4-3]", async () => {
  const broker = newBroker();
  const alice = await persistent(broker, "shared-id", "alice");
  await alice.client.subscribe("live/#", 1);
  for (const clean of [false, true]) {
    const eve = await TestClient.connect(broker, { clientId: "shared-id", clean, ...as("eve") });
    assert.equal(eve.connack.reasonCode, ConnackReturnCode.IdentifierRejected);
    await eve.client.closedByBroker();
  }
  await broker.publish({ topic: "live/1", payload: "still alice's", qos: 1 });
  assert.equal(text(await alice.client.expect(PacketType.PUBLISH)), "still alice's");
  assert.equal(alice.client.isClosed, false);
  // The owner itself still takes its session over from its older connection.
  const again = await persistent(broker, "shared-id", "alice");
  assert.equal(again.connack.sessionPresent, true);
  await alice.client.closedByBroker();
  await broker.close();
});

Deno.test("Clean Start by another user is refused too: it cannot wipe the owner's session", async () => {
  const broker = newBroker();
  await aliceWithQueuedMessage(broker);
  const eve = await TestClient.connect(broker, {
    clientId: "shared-id",
    clean: true,
    protocolLevel: 5,
    ...as("eve"),
  });
  assert.equal(eve.connack.reasonCode, Reason.ClientIdentifierNotValid);
  const alice = await persistent(broker, "shared-id", "alice");
  assert.equal(alice.connack.sessionPresent, true);
  await broker.close();
});

Deno.test("with foreign_session: discard, another user gets a fresh session and the old one is gone; an online one is still refused", async () => {
  const broker = newBroker({ foreignSession: "discard" });
  await aliceWithQueuedMessage(broker);
  const eve = await persistent(broker, "shared-id", "eve");
  assert.equal(eve.connack.reasonCode, 0);
  assert.equal(eve.connack.sessionPresent, false);
  assert.ok(await eve.client.silentFor(50), "nothing of alice's is delivered");
  await broker.publish({ topic: "secret/2", payload: "after the discard", qos: 1 });
  assert.ok(await eve.client.silentFor(50), "alice's subscription went with her session");
  // eve is connected now: alice may not take it back while eve is online.
  const alice = await persistent(broker, "shared-id", "alice");
  assert.equal(alice.connack.reasonCode, Reason.ClientIdentifierNotValid);
  assert.equal(eve.client.isClosed, false);
  await broker.close();
});

Deno.test("anonymous sessions belong to anonymous clients: a named user cannot take one, nor an anonymous client a named one", async () => {
  const broker = newBroker();
  const anon = await persistent(broker, "anon-id", undefined);
  anon.client.disconnect();
  await anon.client.closedByBroker();
  const named = await persistent(broker, "anon-id", "eve");
  assert.equal(named.connack.reasonCode, Reason.ClientIdentifierNotValid);
  const anonAgain = await persistent(broker, "anon-id", undefined);
  assert.equal(anonAgain.connack.sessionPresent, true);

  await aliceWithQueuedMessage(broker);
  const anonymous = await persistent(broker, "shared-id", undefined);
  assert.equal(anonymous.connack.reasonCode, Reason.ClientIdentifierNotValid);
  await broker.close();
});

/** A CONNECT over a socket that carries a verified certificate's name, as a TLS listener's would. */
async function connectWithCertificate(broker: Engine, clientId: string, cn: string): Promise<ConnackPacket> {
  const { socket, client } = memorySocketPair();
  const withIdentity = new Proxy(socket, {
    get: (target, key) => {
      if (key === "identity") return cn;
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  broker.handle(withIdentity);
  client.write(encodePacket({
    type: PacketType.CONNECT,
    protocolName: "MQTT",
    protocolLevel: 5,
    clean: false,
    keepAlive: 0,
    clientId,
    properties: { sessionExpiryInterval: 3600 },
  }, 5));
  const splitter = new FrameSplitter();
  for (;;) {
    const chunk = await client.read();
    if (chunk === null) throw new Error("closed before CONNACK");
    const [frame] = splitter.push(chunk);
    if (frame === undefined) continue;
    const connack = decodePacket(frame, 5) as ConnackPacket;
    client.close();
    return connack;
  }
}

Deno.test("a verified certificate's name is the owner when no user name is sent", async () => {
  const broker = newBroker();
  assert.equal((await connectWithCertificate(broker, "device-7", "device-7.example")).reasonCode, 0);
  assert.equal(
    (await connectWithCertificate(broker, "device-7", "device-8.example")).reasonCode,
    Reason.ClientIdentifierNotValid,
  );
  assert.equal((await connectWithCertificate(broker, "device-7", "device-7.example")).sessionPresent, true);
  await broker.close();
});

async function withKvPath(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "owner-" });
  try {
    await fn(`${dir}/broker.kv`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the owner is stored with the session: after a restart another user is still refused", async () => {
  await withKvPath(async (path) => {
    let broker = newBroker({ store: new KvStore({ path }) });
    await broker.start();
    await aliceWithQueuedMessage(broker);
    await broker.close();

    broker = newBroker({ store: new KvStore({ path }) });
    await broker.start();
    const eve = await persistent(broker, "shared-id", "eve");
    assert.equal(eve.connack.reasonCode, Reason.ClientIdentifierNotValid);
    const alice = await persistent(broker, "shared-id", "alice");
    assert.equal(alice.connack.sessionPresent, true);
    assert.equal(text(await alice.client.expect(PacketType.PUBLISH)), "for alice only");
    await broker.close();
  });
});

Deno.test("a session stored before owners were recorded goes to the first user who resumes it, and is theirs from then on", async () => {
  await withKvPath(async (path) => {
    const kv = await Deno.openKv(path);
    await kv.set(["meta", "schema"], 2);
    await kv.set(["s", "legacy"], { clientId: "legacy", protocolLevel: 4, expiryInterval: 0xffffffff });
    kv.close();
    let broker = newBroker({ store: new KvStore({ path }) });
    await broker.start();
    const first = await persistent(broker, "legacy", "alice", 4);
    assert.equal(first.connack.sessionPresent, true);
    first.client.disconnect();
    await first.client.closedByBroker();
    await broker.close();

    broker = newBroker({ store: new KvStore({ path }) });
    await broker.start();
    const eve = await persistent(broker, "legacy", "eve", 4);
    assert.equal(eve.connack.reasonCode, ConnackReturnCode.IdentifierRejected);
    await broker.close();
  });
});
