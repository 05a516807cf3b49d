/**
 * Read access decided per message at delivery: live messages, shared subscriptions,
 * retained messages sent on SUBSCRIBE, messages queued for offline sessions, wills,
 * revocation, and sessions restored from the store.
 */
import assert from "node:assert/strict";
import { AclFileAuthorizer, parseAclFile } from "../../src/auth/acl_file.ts";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { SESSION_CACHE_LIMIT } from "../../src/broker/read_access.ts";
import type { Authorizer } from "../../src/broker/security.ts";
import { MemoryStore } from "../../src/persistence/memory_store.ts";
import { PacketType, type PublishPacket } from "../../src/protocol/packet.ts";
import { TestClient } from "../_helpers/test_client.ts";

const ACL = `user alice
topic read home/#
topic deny home/secret/#
topic deny +/private

user pub
topic readwrite #
`;

const acl = () => new AclFileAuthorizer(parseAclFile(ACL, "acl"));

async function connect(broker: Engine, username: string, clientId = username, extra = {}) {
  const { client, connack } = await TestClient.connect(broker, { clientId, username, ...extra });
  assert.equal(connack.reasonCode, 0);
  return client;
}

/** The topics of every PUBLISH that arrives until the client has been silent for a while. */
async function received(client: TestClient): Promise<string[]> {
  const topics: string[] = [];
  for (;;) {
    try {
      const packet = await client.next(150);
      if (packet.type === PacketType.PUBLISH) {
        topics.push(packet.topic);
        if (packet.qos === 1) {
          client.send({ type: PacketType.PUBACK, packetId: packet.packetId!, reasonCode: 0 });
        }
      }
    } catch {
      return topics;
    }
  }
}

/** Publishes each topic at QoS 1 from `pub` and waits for the PUBACKs. */
async function publishAll(pub: TestClient, topics: string[], retain = false): Promise<void> {
  for (const topic of topics) {
    pub.publish(topic, "x", { qos: 1, retain });
    await pub.expect(PacketType.PUBACK);
  }
}

Deno.test("a subscription intersecting a deny is granted and withholds the denied topics from live delivery", async () => {
  const broker = new Engine({ clock: new ManualClock(), authorizer: acl() });
  const alice = await connect(broker, "alice");
  const pub = await connect(broker, "pub");
  const suback = await alice.subscribe([{ filter: "home/+/data", qos: 1 }, { filter: "home/+", qos: 1 }]);
  assert.deepEqual(suback.reasonCodes, [1, 1]);
  await publishAll(pub, ["home/secret/data", "home/x/data", "home/private", "home/y"]);
  assert.deepEqual(await received(alice), ["home/x/data", "home/y"]);
  await broker.close();
});

Deno.test("retained messages sent on SUBSCRIBE are checked one by one", async () => {
  const broker = new Engine({ clock: new ManualClock(), authorizer: acl() });
  const pub = await connect(broker, "pub");
  await publishAll(pub, ["home/secret/data", "home/x/data", "home/private"], true);
  const alice = await connect(broker, "alice");
  await alice.subscribe("home/#", 1);
  assert.deepEqual(await received(alice), ["home/x/data"]);
  await broker.close();
});

Deno.test("a shared subscription withholds denied topics, and hands them to a member who may read them", async () => {
  const broker = new Engine({ clock: new ManualClock(), authorizer: acl() });
  const alice = await connect(broker, "alice");
  const pub = await connect(broker, "pub");
  await alice.subscribe("$share/g/home/+/data", 1);
  await alice.subscribe("$share/h/home/+", 1);
  await publishAll(pub, ["home/secret/data", "home/private", "home/x/data"]);
  assert.deepEqual(await received(alice), ["home/x/data"]);
  // With a second member that may read everything, the group loses nothing.
  const ops = await connect(broker, "pub", "ops");
  await ops.subscribe("$share/g/home/+/data", 1);
  await publishAll(pub, ["home/secret/data", "home/secret/data", "home/a/data", "home/b/data"]);
  const [toAlice, toOps] = await Promise.all([received(alice), received(ops)]);
  assert.deepEqual(toOps.filter((t) => t === "home/secret/data").length, 2);
  assert.deepEqual([...toAlice, ...toOps].filter((t) => t !== "home/secret/data").sort(), [
    "home/a/data",
    "home/b/data",
  ]);
  await broker.close();
});

Deno.test("messages queued for an offline session are checked, and checked again when sent after a revocation", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/acl`, ACL);
    const file = await AclFileAuthorizer.load(`${dir}/acl`);
    const broker = new Engine({ clock: new ManualClock(), authorizer: file, limits: { maxInflight: 1 } });
    const alice = await connect(broker, "alice", "alice", { clean: false });
    await alice.subscribe("home/#", 1);
    alice.disconnect();
    const pub = await connect(broker, "pub");
    await publishAll(pub, ["home/secret/a", "home/one", "home/two"]);
    assert.equal(broker.sessions.get("alice")!.queue.length, 2, "the denied one is never queued");
    // The rules change while alice is away: home/two is denied now.
    await Deno.writeTextFile(`${dir}/acl`, ACL.replace("topic deny +/private", "topic deny home/two"));
    await file.reload();
    broker.accessChanged();
    const back = await connect(broker, "alice", "alice", { clean: false });
    assert.deepEqual(await received(back), ["home/one"]);
    await broker.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a message sent but not acknowledged is not resent after a reconnect once read access is revoked", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/acl`, ACL);
    const file = await AclFileAuthorizer.load(`${dir}/acl`);
    const broker = new Engine({ clock: new ManualClock(), authorizer: file });
    const alice = await connect(broker, "alice", "alice", { clean: false });
    const pub = await connect(broker, "pub");
    await alice.subscribe("home/#", 1);
    await publishAll(pub, ["home/lamp", "home/door"]);
    // Received, never acknowledged.
    assert.equal((await alice.expect(PacketType.PUBLISH)).topic, "home/lamp");
    assert.equal((await alice.expect(PacketType.PUBLISH)).topic, "home/door");
    alice.drop();
    await Deno.writeTextFile(`${dir}/acl`, ACL.replace("topic read home/#", "topic read home/door"));
    await file.reload();
    broker.accessChanged();
    const back = await connect(broker, "alice", "alice", { clean: false });
    assert.deepEqual(await received(back), ["home/door"]);
    assert.equal(broker.sessions.get("alice")!.inflight.size, 0);
    await broker.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an authorizeDelivery that throws withholds the message", async () => {
  const authorizer: Authorizer = {
    authorize: () => true,
    authorizeDelivery: (_client, topic) => {
      if (topic === "boom") throw new Error("backend down");
      return true;
    },
  };
  const broker = new Engine({ clock: new ManualClock(), authorizer });
  const alice = await connect(broker, "alice");
  const pub = await connect(broker, "pub");
  await alice.subscribe("#", 1);
  await publishAll(pub, ["boom", "fine"]);
  assert.deepEqual(await received(alice), ["fine"]);
  await broker.close();
});

Deno.test("revoking read access stops delivery on an existing subscription from the next message", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/acl`, ACL);
    const file = await AclFileAuthorizer.load(`${dir}/acl`);
    const broker = new Engine({ clock: new ManualClock(), authorizer: file });
    const alice = await connect(broker, "alice");
    const pub = await connect(broker, "pub");
    await alice.subscribe("home/#", 1);
    await publishAll(pub, ["home/lamp"]);
    assert.deepEqual(await received(alice), ["home/lamp"]);
    await Deno.writeTextFile(`${dir}/acl`, ACL.replace("topic read home/#", "topic read home/door"));
    await file.reload();
    broker.accessChanged();
    await publishAll(pub, ["home/lamp", "home/door"]);
    assert.deepEqual(await received(alice), ["home/door"]);
    await broker.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a will is delivered only to subscribers who may read its topic", async () => {
  const broker = new Engine({ clock: new ManualClock(), authorizer: acl() });
  const alice = await connect(broker, "alice");
  const ops = await connect(broker, "pub", "ops");
  await alice.subscribe("home/#", 1);
  await ops.subscribe("home/#", 1);
  const dying = await connect(broker, "pub", "dying", {
    will: { topic: "home/secret/will", payload: new Uint8Array([1]), qos: 1, retain: false },
  });
  dying.drop();
  assert.deepEqual(await received(ops), ["home/secret/will"]);
  assert.deepEqual(await received(alice), []);
  await broker.close();
});

Deno.test("a session restored from the store gets only what its user may read when its client is back", async () => {
  const store = new MemoryStore();
  const first = new Engine({ clock: new ManualClock(), store, authorizer: acl() });
  await first.start();
  const alice = await connect(first, "alice", "alice", { clean: false });
  await alice.subscribe("home/#", 1);
  alice.disconnect();
  await first.close();
  const second = new Engine({ clock: new ManualClock(), store, authorizer: acl() });
  await second.start();
  const pub = await connect(second, "pub");
  await publishAll(pub, ["home/secret/x", "home/ok"]);
  const back = await connect(second, "alice", "alice", { clean: false });
  assert.deepEqual(await received(back), ["home/ok"]);
  await second.close();
});

Deno.test("a session restored with its stored owner, anonymous included, is checked before anything is queued", async () => {
  const rules = `topic read public/#\n${ACL}`;
  const authorizer = () => new AclFileAuthorizer(parseAclFile(rules, "acl"));
  const store = new MemoryStore();
  const first = new Engine({ clock: new ManualClock(), store, authorizer: authorizer() });
  await first.start();
  for (const [clientId, username] of [["anon", undefined], ["alice", "alice"]] as const) {
    const { client } = await TestClient.connect(first, { clientId, username, clean: false });
    await client.subscribe("#", 1);
    client.disconnect();
  }
  await first.close();
  const second = new Engine({ clock: new ManualClock(), store, authorizer: authorizer() });
  await second.start();
  const pub = await connect(second, "pub");
  await publishAll(pub, ["public/a", "home/ok", "home/secret/x"]);
  // anon may read public/a only, alice home/ok only: 2 queued, nothing kept for a later check.
  assert.equal(second.admin.pendingMessages().queued, 2);
  const anon = await TestClient.connect(second, { clientId: "anon", clean: false });
  assert.deepEqual(await received(anon.client), ["public/a"]);
  await second.close();
});

Deno.test("a hook that grants a subscription does not widen what the ACL lets through per message", async () => {
  const broker = new Engine({ clock: new ManualClock(), authorizer: acl() });
  broker.use({ authorizeSubscribe: () => true });
  const alice = await connect(broker, "alice");
  const pub = await connect(broker, "pub");
  assert.deepEqual((await alice.subscribe("home/secret/#", 1)).reasonCodes, [1]);
  await publishAll(pub, ["home/secret/x"]);
  assert.deepEqual(await received(alice), []);
  await broker.close();
});

Deno.test("an authorizer without authorizeDelivery decides at SUBSCRIBE only, as before", async () => {
  const asked: string[] = [];
  const authorizer: Authorizer = {
    authorize: (_client, access, topic) => {
      asked.push(`${access} ${topic}`);
      return topic !== "no/#";
    },
  };
  const broker = new Engine({ clock: new ManualClock(), authorizer });
  const alice = await connect(broker, "alice");
  assert.deepEqual((await alice.subscribe("a/#", 1)).reasonCodes, [1]);
  assert.deepEqual((await alice.subscribe("no/#", 1)).reasonCodes, [0x80]);
  alice.publish("a/b", "x", { qos: 1 });
  const packets = [await alice.next(), await alice.next()];
  assert.ok(packets.some((p) => p.type === PacketType.PUBLISH && (p as PublishPacket).topic === "a/b"));
  assert.deepEqual(asked, ["read a/#", "read no/#", "write a/b"]);
  await broker.close();
});

Deno.test("the broker's own in-process subscribers are not subject to the ACL", async () => {
  const broker = new Engine({ clock: new ManualClock(), authorizer: acl() });
  const reader = broker.subscribe("home/#").getReader();
  await broker.publish({ topic: "home/secret/x", payload: "s" });
  assert.equal((await reader.read()).value?.topic, "home/secret/x");
  await reader.cancel();
  await broker.close();
});

Deno.test("each session caches a bounded number of read answers", async () => {
  const broker = new Engine({ clock: new ManualClock(), authorizer: acl() });
  const alice = await connect(broker, "alice");
  await alice.subscribe("home/#", 0);
  for (let i = 0; i < SESSION_CACHE_LIMIT * 2 + 10; i++) {
    await broker.publish({ topic: `home/t${i}`, payload: "x" });
  }
  const cache = broker.sessions.get("alice")!.readCache!;
  assert.ok(cache.size > 0 && cache.size <= SESSION_CACHE_LIMIT, `cache holds ${cache.size}`);
  await broker.close();
});
