/**
 * The stream feed against a real JetStream (one nats-server): routing in stream order from
 * where it started, holding at an exact position, and reading again from its position when
 * its consumer disappears (as when the server holding it dies).
 */
import assert from "node:assert/strict";
import { type JetStreamClient, type NatsConnection, RetentionPolicy, StorageType } from "nats";
import { encodeHeaders, subjectFor } from "../../src/cluster/message_wire.ts";
import { StreamFeed } from "../../src/cluster/stream_feed.ts";
import type { StoredMessage } from "../../src/persistence/store.ts";
import { natsTest } from "../_helpers/nats_cluster.ts";
import { waitFor } from "../_helpers/wait_for.ts";

const STREAM = "FEED";

interface Fixture {
  nc: NatsConnection;
  js: JetStreamClient;
  publish(topic: string, node?: string): Promise<number>;
}

/** The stream on the test's NATS server, and a publisher of messages to it from another node. */
async function fixture(nc: NatsConnection): Promise<Fixture> {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({
    name: STREAM,
    subjects: ["mqtt.d.>"],
    retention: RetentionPolicy.Limits,
    storage: StorageType.Memory,
  });
  const js = nc.jetstream();
  let seq = 0;
  return {
    nc,
    js,
    async publish(topic, node = "other") {
      const message: StoredMessage = {
        topic,
        payload: new TextEncoder().encode(topic),
        qos: 1,
        retain: false,
      };
      const ack = await js.publish(subjectFor(message), message.payload, {
        headers: encodeHeaders(message, { node, seq: ++seq }),
      });
      return ack.seq;
    },
  };
}

/** A feed that records what it routes: [stream sequence, topic, own]. */
async function recordingFeed(f: Fixture, stallMs?: number) {
  const routed: [number, string, boolean][] = [];
  const feed = await StreamFeed.start({
    js: f.js,
    stream: STREAM,
    instance: "me",
    route: (message, own) => {
      routed.push([message.streamSeq!, message.topic, own]);
      return Promise.resolve();
    },
    storing: () => true,
    onError: (err) => {
      throw err;
    },
    stallMs,
  });
  return { feed, routed };
}

natsTest(
  "the stream feed routes what follows its start, in stream order, and knows its own messages",
  async (nc) => {
    const f = await fixture(nc);
    await f.publish("before");
    const { feed, routed } = await recordingFeed(f);
    await f.publish("a");
    await f.publish("b", "me");
    const last = await f.publish("c");
    await waitFor("three messages", () => feed.position === last, 10_000);
    assert.deepEqual(routed, [[2, "a", false], [3, "b", true], [4, "c", false]]);
    await waitFor("the durable point", () => feed.durable === last, 10_000);
    await feed.stop();
  },
);

natsTest("a held feed routes nothing until released, then everything that waited, in order", async (nc) => {
  const f = await fixture(nc);
  const { feed, routed } = await recordingFeed(f);
  const first = await f.publish("1");
  // holdAt resolves held at exactly the sequence asked for, even while more messages follow.
  const held = feed.holdAt(first + 1, 5000);
  await f.publish("2");
  await f.publish("3");
  const resume = await held;
  assert.equal(feed.position, first + 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(routed.map(([, topic]) => topic), ["1", "2"]);
  resume();
  await waitFor("the held message", () => routed.length === 3, 10_000);
  assert.deepEqual(routed.map(([seq]) => seq), [first, first + 1, first + 2]);
  await assert.rejects(feed.holdAt(first + 10, 100), /did not reach/);
  await feed.stop();
});

natsTest(
  "a feed whose consumer vanished reads the stream again from its position, losing nothing",
  async (nc) => {
    const f = await fixture(nc);
    const { feed, routed } = await recordingFeed(f, 300);
    await f.publish("1");
    await waitFor("the first message", () => routed.length === 1, 10_000);
    // As when the server that held it dies: the consumer is gone, the stream goes on.
    const jsm = await f.nc.jetstreamManager();
    for await (const c of jsm.consumers.list(STREAM)) await jsm.consumers.delete(STREAM, c.name);
    for (let i = 2; i <= 5; i++) await f.publish(String(i));
    // Sooner than nats.js would notice by itself (two missed heartbeats: 5 s and more).
    const deadline = Date.now() + 4_000;
    while (routed.length < 5 && Date.now() < deadline) {
      await feed.check();
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(routed.map(([, topic]) => topic), ["1", "2", "3", "4", "5"]);
    await feed.stop();
  },
);
