import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import { CommitBatch } from "../../src/broker/commit_batch.ts";
import type { ReceivedMessage } from "../../src/broker/local_subscription.ts";
import { MemoryStore } from "../../src/persistence/memory_store.ts";
import type { Mutation, Store } from "../../src/persistence/store.ts";
import { PacketType } from "../../src/protocol/packet.ts";
import { SHARED_PAYLOAD_MIN } from "../../src/protocol/publish.ts";
import { fakePeers } from "../_helpers/fake_peers.ts";
import { TestClient, text } from "../_helpers/test_client.ts";

async function first(stream: ReadableStream<ReceivedMessage>, ms = 100): Promise<string | undefined> {
  const reader = stream.getReader();
  const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms));
  const got = await Promise.race([reader.read().then((r) => r.value?.topic), timeout]);
  await reader.cancel();
  return got;
}

Deno.test("with stream-routing peers (a cluster), share groups are served only when the peers pick this node for them", async () => {
  const broker = new Engine();
  await broker.start();
  broker.attachPeers(fakePeers().link);
  const member = broker.subscribe("$share/g/t/#");
  const plain = broker.subscribe("t/#");
  await broker.publishInternal({ topic: "t/1", payload: new Uint8Array(1), qos: 0, retain: false });
  assert.equal(await first(plain), "t/1");
  assert.equal(await first(member), undefined);
  const again = broker.subscribe("$share/g/t/#");
  const other = broker.subscribe("$share/h/t/#");
  await broker.peerPort.deliver({ topic: "t/2", payload: new Uint8Array(1), qos: 0, retain: false }, {
    group: { group: "g", filter: "t/#" },
  });
  assert.equal(await first(again), "t/2");
  assert.equal(await first(other), undefined);
  await broker.close();
});

/** A durable store whose commits, while it is held, complete only when it is released. */
class GatedStore implements Store {
  readonly durable = true;
  readonly #inner = new MemoryStore();
  #gate: Promise<void> | null = null;
  #open: (() => void) | null = null;
  open() {
    return this.#inner.open();
  }
  load() {
    return this.#inner.load();
  }
  close() {
    return this.#inner.close();
  }
  async commit(mutations: Mutation[]): Promise<void> {
    if (this.#gate !== null) await this.#gate;
    return this.#inner.commit(mutations);
  }
  hold(): void {
    this.#gate = new Promise((resolve) => this.#open = resolve);
  }
  release(): void {
    this.#gate = null;
    this.#open?.();
  }
}

Deno.test("a send that waits for a commit keeps its own bytes while later messages are encoded and sent at once", async () => {
  const store = new GatedStore();
  const broker = new Engine({ store });
  await broker.start();
  const kept = await TestClient.connect(broker, { clientId: "kept", clean: false });
  const plain = await TestClient.connect(broker, { clientId: "plain" });
  const publisher = await TestClient.connect(broker, { clientId: "pub" });
  const other = await TestClient.connect(broker, { clientId: "other" });
  await kept.client.subscribe("t/#", 1);
  await plain.client.subscribe("t/#", 0);
  store.hold();
  // The persistent session's QoS 1 copy is stored: the publisher's chain waits for that commit
  // (`plain`'s QoS 0 copy was already written).
  publisher.client.publish("t/first", "first", { qos: 1 });
  const first = await plain.client.expect(PacketType.PUBLISH);
  assert.deepEqual([first.topic, text(first)], ["t/first", "first"]);
  // The publisher's next message waits behind the commit, encoded for `plain` (QoS 0, level 4)...
  publisher.client.publish("t/waiting", "waiting");
  await new Promise((r) => setTimeout(r, 20));
  // ...while another client's message of the same shape is encoded and goes to `plain` at once.
  other.client.publish("t/now", "now");
  const now = await plain.client.expect(PacketType.PUBLISH);
  assert.deepEqual([now.topic, text(now)], ["t/now", "now"]);
  assert.equal(await plain.client.silentFor(20), true);
  store.release();
  const waiting = await plain.client.expect(PacketType.PUBLISH);
  assert.deepEqual([waiting.topic, text(waiting)], ["t/waiting", "waiting"]);
  await broker.close();
});

Deno.test("a large payload routed as a view into a read buffer reaches every subscriber as it was, though the buffer is reused at once", async () => {
  const broker = new Engine();
  await broker.start();
  const subscribers = [];
  for (const clientId of ["a", "b"]) {
    const { client } = await TestClient.connect(broker, { clientId });
    await client.subscribe("big", 0);
    subscribers.push(client);
  }
  const buffer = new Uint8Array(SHARED_PAYLOAD_MIN * 4).fill(1);
  broker.router.route({ topic: "big", payload: buffer, qos: 0, retain: false }, new CommitBatch(), "view");
  buffer.fill(2); // the next read, before the writes are flushed
  for (const client of subscribers) {
    const got = await client.expect(PacketType.PUBLISH);
    assert.equal(got.payload.length, buffer.length);
    assert.ok(got.payload.every((b) => b === 1), "the bytes published, not the next read's");
  }
  await broker.close();
});
