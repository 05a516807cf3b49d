/**
 * Two broker instances in one isolate, each with its own BroadcastChannel object on
 * a shared name: exactly what two isolates see, minus the isolation.
 */
import assert from "node:assert/strict";
import { Broker } from "../../src/public_broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import type { Authenticator } from "../../src/broker/security.ts";
import { PacketType, Reason } from "../../src/protocol/packet.ts";
import {
  type BridgeBatch,
  type BridgeNotice,
  BroadcastBridge,
} from "../../src/serverless/broadcast_bridge.ts";
import { SharedKvStore } from "../../src/serverless/shared_kv_store.ts";
import { TestClient, text } from "../_helpers/test_client.ts";

/** Lets BroadcastChannel deliveries (tasks) run. */
const settle = () => new Promise((r) => setTimeout(r, 30));
const bytes = (s: string) => new TextEncoder().encode(s);

/** A stand-in for another instance: posts notices as numbered batches, as a bridge does. */
function fakePeer(channel: string, from: string) {
  const port = new BroadcastChannel(channel);
  let seq = 0;
  return {
    post(notices: BridgeNotice[], skip = 0) {
      seq += skip;
      port.postMessage({ from, seq: ++seq, notices } satisfies BridgeBatch);
    },
    close: () => port.close(),
  };
}

interface InstanceOptions {
  /** Instance ids (instance-0, instance-1, … by default). */
  ids?: string[];
  /** Sessions kept in a SharedKvStore on `<dir>/shared.kv`, as the instances of one deployment do. */
  sharedKvIn?: string;
  authenticator?: Authenticator;
}

/** Broker instances with their bridges on one fresh channel, started and ready. */
async function instances(count: number, options: InstanceOptions = {}) {
  const channel = `bridge-test-${crypto.randomUUID()}`;
  const clock = new ManualClock();
  const list: { broker: Broker; bridge: BroadcastBridge }[] = [];
  for (let i = 0; i < count; i++) {
    const instanceId = options.ids?.[i] ?? `instance-${i}`;
    const store = options.sharedKvIn === undefined
      ? undefined
      : new SharedKvStore({ path: `${options.sharedKvIn}/shared.kv` });
    const broker = new Broker({ clock, store, authenticator: options.authenticator });
    const bridge = store === undefined
      ? new BroadcastBridge(broker, { channel, instanceId })
      : new BroadcastBridge(broker, { channel, instanceId, store, releaseWaitMs: 2000 });
    await broker.start();
    await bridge.ready();
    list.push({ broker, bridge });
  }
  const close = async () => {
    for (const { broker, bridge } of list) {
      bridge.close();
      await broker.close();
    }
  };
  return { channel, clock, list, close };
}

Deno.test("a message published on one instance reaches a subscriber on another exactly once, and is not sent back", async () => {
  const { list: [a, b], close } = await instances(2);
  try {
    const sub = await TestClient.connect(b.broker, { clientId: "sub" });
    await sub.client.subscribe("room/#", 1);
    const pub = await TestClient.connect(a.broker, { clientId: "pub" });
    await settle();
    const sentByB = b.bridge.counts.sent;
    pub.client.publish("room/1", "hello", { qos: 1 });
    await pub.client.expect(PacketType.PUBACK);
    const got = await sub.client.expect(PacketType.PUBLISH);
    assert.equal(text(got), "hello");
    assert.equal(got.qos, 1);
    assert.equal(await sub.client.silentFor(60), true, "a second copy arrived");
    assert.equal(b.bridge.counts.sent, sentByB, "the receiving instance forwarded the message again");
  } finally {
    await close();
  }
});

Deno.test("a retained message published on one instance is given to a later subscriber on another", async () => {
  const { list: [a, b], close } = await instances(2);
  try {
    await a.broker.publish({ topic: "status/door", payload: "open", retain: true });
    await settle();
    const sub = await TestClient.connect(b.broker, { clientId: "late" });
    await sub.client.subscribe("status/+");
    const got = await sub.client.expect(PacketType.PUBLISH);
    assert.equal(text(got), "open");
    assert.equal(got.retain, true);
    // Clearing it on one instance clears it on the other.
    await a.broker.publish({ topic: "status/door", payload: "", retain: true });
    await settle();
    assert.equal(b.broker.admin.retained("status/door")[0], undefined);
  } finally {
    await close();
  }
});

Deno.test("a will published on one instance reaches subscribers on another", async () => {
  const { list: [a, b], close } = await instances(2);
  try {
    const watcher = await TestClient.connect(b.broker, { clientId: "watcher" });
    await watcher.client.subscribe("wills/#");
    const dying = await TestClient.connect(a.broker, {
      clientId: "dying",
      will: { topic: "wills/dying", payload: bytes("gone"), qos: 0, retain: false },
    });
    dying.client.drop();
    assert.equal(text(await watcher.client.expect(PacketType.PUBLISH)), "gone");
  } finally {
    await close();
  }
});

Deno.test("a client id connecting on a second instance closes the older connection with 0x8E [MQTT-3.1.4-3]", async () => {
  const { list: [a, b], clock, close } = await instances(2);
  try {
    const first = await TestClient.connect(a.broker, { clientId: "x", protocolLevel: 5 });
    await settle();
    clock.advance(1);
    const second = await TestClient.connect(b.broker, { clientId: "x", protocolLevel: 5 });
    const last = (await first.client.closedByBroker()).at(-1);
    assert.equal(last?.type, PacketType.DISCONNECT);
    assert.equal((last as { reasonCode: number }).reasonCode, Reason.SessionTakenOver);
    assert.equal(a.broker.admin.session("x") !== undefined, false);
    assert.equal(a.bridge.counts.released, 1);
    assert.equal(await second.client.silentFor(60), true);
    assert.equal(second.client.isClosed, false);
  } finally {
    await close();
  }
});

Deno.test("a takeover notice closes the local connection only when the local one is older (ties: larger instance id stays) [MQTT-3.1.4-3]", async () => {
  const { list: [a], channel, clock, close } = await instances(1);
  const peer = fakePeer(channel, "peer");
  try {
    const connectedAt = clock.now();
    const local = await TestClient.connect(a.broker, { clientId: "x", protocolLevel: 5 });
    const older: BridgeNotice = { kind: "takeover", from: "peer", clientId: "x", at: connectedAt - 1 };
    peer.post([older]);
    await settle();
    assert.equal(local.client.isClosed, false, "an older connection elsewhere must not close a newer one");
    const tie: BridgeNotice = { kind: "takeover", from: "a-smaller-id", clientId: "x", at: connectedAt };
    peer.post([tie]);
    await settle();
    assert.equal(local.client.isClosed, false, "a tie must be decided for the larger instance id");
    const newer: BridgeNotice = { kind: "takeover", from: "peer", clientId: "x", at: connectedAt + 1 };
    peer.post([newer]);
    await local.client.closedByBroker();
  } finally {
    peer.close();
    await close();
  }
});

Deno.test("notices that arrive while an instance starts are applied after the retained messages it loads from the shared store", async () => {
  const channel = `bridge-test-${crypto.randomUUID()}`;
  const dir = await Deno.makeTempDir({ prefix: "bridge-start-" });
  const writer = new SharedKvStore({ path: `${dir}/shared.kv` });
  await writer.open();
  const stored = (topic: string, payload: string) => ({
    topic,
    payload: bytes(payload),
    qos: 0 as const,
    retain: true,
  });
  await writer.commit([
    { kind: "putRetained", message: stored("early", "egg") },
    { kind: "putRetained", message: stored("kept", "nest") },
  ]);
  const peer = fakePeer(channel, "peer");
  const store = new SharedKvStore({ path: `${dir}/shared.kv` });
  const broker = new Broker({ clock: new ManualClock(), store });
  const bridge = new BroadcastBridge(broker, { channel, store });
  try {
    peer.post([{ kind: "publish", from: "peer", message: stored("early", "bird") }]);
    await settle();
    assert.equal(broker.admin.retained("early")[0], undefined, "applied before ready()");
    await broker.start();
    assert.equal(broker.admin.sizes().retained, 0, "a shared store restores nothing by itself");
    await bridge.ready();
    assert.equal(text(broker.admin.retained("early")[0] as never), "bird");
    assert.equal(text(broker.admin.retained("kept")[0] as never), "nest");
  } finally {
    peer.close();
    bridge.close();
    await broker.close();
    await writer.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a persistent session moves with its client to another instance, with its subscriptions and queued messages", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bridge-sessions-" });
  const { list: [a, b], clock, close } = await instances(2, { ids: ["a", "b"], sharedKvIn: dir });
  const persistent = {
    clientId: "roamer",
    clean: false,
    protocolLevel: 5 as const,
    properties: { sessionExpiryInterval: 3600 },
  };
  try {
    const first = await TestClient.connect(a.broker, persistent);
    await first.client.subscribe("q/#", 1);
    first.client.disconnect();
    await first.client.closedByBroker().catch(() => []);
    await a.broker.publish({ topic: "q/while-away", payload: "queued on a", qos: 1 });
    clock.advance(1);
    const started = Date.now();
    const moved = await TestClient.connect(b.broker, persistent);
    assert.ok(
      Date.now() - started < 1000,
      "the holder's release notice, not the timeout, let the connect go on",
    );
    assert.equal(moved.connack.sessionPresent, true);
    assert.equal(text(await moved.client.expect(PacketType.PUBLISH)), "queued on a");
    assert.equal(
      a.broker.admin.session("roamer") !== undefined,
      false,
      "the previous instance still holds the session",
    );
    await a.broker.publish({ topic: "q/after", payload: "via the channel", qos: 1 });
    assert.equal(text(await moved.client.expect(PacketType.PUBLISH)), "via the channel");
    assert.equal(await moved.client.silentFor(60), true);
  } finally {
    await close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a burst of messages in one turn reaches the other instance whole, and a batch the channel drops is counted", async () => {
  const { list: [a, b], channel, close } = await instances(2);
  const peer = fakePeer(channel, "lossy-peer");
  try {
    const got: string[] = [];
    b.broker.use({ onDeliver: (_id, m) => void got.push(m.topic) });
    const sub = await TestClient.connect(b.broker, { clientId: "sub" });
    await sub.client.subscribe("burst/#");
    // Far more than the few hundred undelivered posts the channel keeps per receiver.
    for (let i = 0; i < 2000; i++) a.broker.publish({ topic: `burst/${i}`, payload: "x" });
    for (let i = 0; i < 100 && got.length < 2000; i++) await settle();
    assert.equal(got.length, 2000);
    assert.equal(b.bridge.counts.lostBatches, 0);
    const message = { topic: "burst/peer", payload: bytes("p"), qos: 0 as const, retain: false };
    peer.post([{ kind: "publish", from: "lossy-peer", message }]);
    peer.post([{ kind: "publish", from: "lossy-peer", message }], 3);
    await settle();
    assert.equal(b.bridge.counts.lostBatches, 3);
  } finally {
    peer.close();
    await close();
  }
});

/** Accepts any user whose password is "<user>-pw". */
const usersByPassword = {
  authenticate: (info: { username?: string; password?: Uint8Array }) =>
    Promise.resolve(
      info.username === undefined || new TextDecoder().decode(info.password) === `${info.username}-pw`
        ? { ok: true as const }
        : { ok: false as const, reason: "bad_credentials" as const },
    ),
};
const login = (user: string) => ({ username: user, password: bytes(`${user}-pw`) });

Deno.test("another user's CONNECT on a second instance neither gets a stored session nor closes its owner's connection", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bridge-owner-" });
  const { list: [a, b], clock, close } = await instances(2, {
    ids: ["a", "b"],
    sharedKvIn: dir,
    authenticator: usersByPassword,
  });
  const session = { clientId: "owned", clean: false, protocolLevel: 5 as const };
  const props = { properties: { sessionExpiryInterval: 3600 } };
  try {
    const alice = await TestClient.connect(a.broker, { ...session, ...props, ...login("alice") });
    await alice.client.subscribe("mine/#", 1);
    await settle();
    clock.advance(1);
    // Online on a: eve on b is refused, and a keeps alice's connection.
    const eve = await TestClient.connect(b.broker, { ...session, ...props, ...login("eve") });
    assert.equal(eve.connack.reasonCode, Reason.ClientIdentifierNotValid);
    await settle();
    assert.equal(alice.client.isClosed, false, "eve's notice closed alice's connection");
    assert.equal(a.bridge.counts.released, 0);
    // Offline, stored: eve is refused again, and alice then moves to b with her queued message.
    alice.client.disconnect();
    await alice.client.closedByBroker().catch(() => []);
    await a.broker.publish({ topic: "mine/1", payload: "queued for alice", qos: 1 });
    clock.advance(1);
    const eveAgain = await TestClient.connect(b.broker, { ...session, ...props, ...login("eve") });
    assert.equal(eveAgain.connack.reasonCode, Reason.ClientIdentifierNotValid);
    assert.equal(
      a.broker.admin.session("owned") !== undefined,
      true,
      "eve's attempt made a let go of the session",
    );
    const back = await TestClient.connect(b.broker, { ...session, ...props, ...login("alice") });
    assert.equal(back.connack.sessionPresent, true);
    assert.equal(text(await back.client.expect(PacketType.PUBLISH)), "queued for alice");
  } finally {
    await close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a takeover notice naming another user leaves the local connection open; the owner's own, or one from an older version, closes it", async () => {
  const { list: [{ broker }], channel, clock, close } = await instances(1, {
    ids: ["a"],
    authenticator: usersByPassword,
  });
  const peer = fakePeer(channel, "peer");
  try {
    for (
      const [identity, closes] of [["eve", false], [null, false], ["alice", true], [undefined, true]] as const
    ) {
      const local = await TestClient.connect(broker, { clientId: "x", ...login("alice") });
      const notice: BridgeNotice = { kind: "takeover", from: "peer", clientId: "x", at: clock.now() + 1 };
      if (identity !== undefined) notice.identity = identity;
      peer.post([notice]);
      await settle();
      assert.equal(local.client.isClosed, closes, `notice for ${identity}`);
      local.client.drop();
      await local.client.closedByBroker();
    }
  } finally {
    peer.close();
    await close();
  }
});
