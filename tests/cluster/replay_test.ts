import assert from "node:assert/strict";
import { RetentionPolicy, StorageType } from "nats";
import { encodeHeaders, subjectFor } from "../../src/cluster/message_wire.ts";
import { MissedSelector, readRange } from "../../src/cluster/replay.ts";
import type { LoadedSession, StoredMessage, StoredSubscription } from "../../src/persistence/store.ts";
import { natsTest } from "../_helpers/nats_cluster.ts";

const sub = (
  filter: string,
  qos: 0 | 1 | 2,
  extra: Partial<StoredSubscription> = {},
): StoredSubscription => ({
  filter,
  qos,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
  ...extra,
});

const msg = (topic: string, qos: 0 | 1 | 2, extra: Partial<StoredMessage> = {}): StoredMessage => ({
  topic,
  payload: new TextEncoder().encode(topic),
  qos,
  retain: false,
  ...extra,
});

function session(subscriptions: StoredSubscription[], held: StoredMessage[] = []): LoadedSession {
  return {
    session: { clientId: "c", protocolLevel: 5, expiryInterval: 60 },
    subscriptions,
    outbound: held.map((message, i) => ({ seq: i + 1, packetId: 0, phase: "publish", qos: 1, message })),
    inbound: [],
  };
}

/** What the selector picks from `messages`, as [topic, QoS, subscription ids]. */
function picks(loaded: LoadedSession, messages: StoredMessage[], now = 0) {
  const selector = new MissedSelector(loaded);
  return messages.map((m) => selector.select(m, now)).filter((m) => m !== undefined)
    .map((m) => [m.message.topic, m.qos, m.subscriptionIds]);
}

Deno.test("a missed message is picked once for a session, at the lower QoS, with every subscription id", () => {
  const loaded = session([sub("a/#", 1), sub("a/b", 2, { subscriptionId: 7 })]);
  assert.deepEqual(picks(loaded, [msg("a/b", 2), msg("x", 1), msg("a/c", 2)]), [
    ["a/b", 2, [7]],
    ["a/c", 1, undefined],
  ]);
});

Deno.test("shared subscriptions, QoS 0 deliveries, expired and No Local messages are not replayed", () => {
  const loaded = session([sub("$share/g/s/#", 1), sub("z/#", 0), sub("n/#", 1, { noLocal: true })]);
  const topics = picks(loaded, [
    msg("s/1", 1),
    msg("z/1", 1),
    msg("n/1", 1, { origin: "c" }),
    msg("n/2", 1, { expiresAt: 10 }),
    msg("n/3", 1, { origin: "other" }),
  ], 100).map(([topic]) => topic);
  assert.deepEqual(topics, ["n/3"]);
});

Deno.test("RETAIN is kept only for Retain As Published subscriptions", () => {
  const retained = msg("r/1", 1, { retain: true });
  const kept = new MissedSelector(session([sub("r/#", 1, { retainAsPublished: true })])).select(retained, 0);
  const cleared = new MissedSelector(session([sub("r/#", 1)])).select(retained, 0);
  assert.equal(kept?.message.retain, true);
  assert.equal(cleared?.message.retain, false);
});

Deno.test("a message the session already holds (same stream sequence) is not picked again", () => {
  const loaded = session([sub("a/#", 1)], [msg("a/1", 1, { streamSeq: 41 })]);
  const topics = picks(loaded, [msg("a/1", 1, { streamSeq: 41 }), msg("a/2", 1, { streamSeq: 42 })]);
  assert.deepEqual(topics.map(([topic]) => topic), ["a/2"]);
});

natsTest(
  "a range of the stream is read in order, from after its start to its end, across fetch batches",
  async (nc) => {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({
      name: "RANGE",
      subjects: ["mqtt.d.>"],
      retention: RetentionPolicy.Limits,
      storage: StorageType.Memory,
    });
    const js = nc.jetstream();
    for (let i = 1; i <= 600; i++) {
      const message = msg(`r/${i}`, 1);
      await js.publish(subjectFor(message), message.payload, {
        headers: encodeHeaders(message, { node: "n", seq: i }),
      });
    }
    const read: number[] = [];
    await readRange(js, "RANGE", { after: 3, upTo: 7 }, (m) => read.push(m.streamSeq!));
    assert.deepEqual(read, [4, 5, 6, 7]);
    const topics: string[] = [];
    await readRange(js, "RANGE", { after: 10, upTo: 590 }, (m) => topics.push(m.topic));
    assert.deepEqual(topics, Array.from({ length: 580 }, (_, i) => `r/${i + 11}`));
    let none = 0;
    await readRange(js, "RANGE", { after: 7, upTo: 7 }, () => none++);
    assert.equal(none, 0);
  },
);
