import assert from "node:assert/strict";
import { queueMissed } from "../../src/cluster/replay.ts";
import type { LoadedSession, StoredMessage, StoredSubscription } from "../../src/persistence/store.ts";

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

function session(subscriptions: StoredSubscription[], lastSeq = 0): LoadedSession {
  const outbound = lastSeq === 0
    ? []
    : [{ seq: lastSeq, packetId: 0, phase: "publish" as const, qos: 1 as const, message: msg("old", 1) }];
  return {
    session: { clientId: "c", protocolLevel: 5, expiryInterval: 60 },
    subscriptions,
    outbound,
    inbound: [],
  };
}

Deno.test("missed messages are queued after the stored ones, once each, at the lower QoS", () => {
  const loaded = session([sub("a/#", 1), sub("a/b", 2, { subscriptionId: 7 })], 4);
  const added = queueMissed(loaded, [msg("a/b", 2), msg("x", 1), msg("a/c", 2)], 0);
  assert.deepEqual(added.map((e) => [e.seq, e.message.topic, e.qos, e.subscriptionIds]), [
    [5, "a/b", 2, [7]],
    [6, "a/c", 1, undefined],
  ]);
  assert.equal(loaded.outbound.length, 3);
});

Deno.test("shared subscriptions, QoS 0 deliveries, expired and No Local messages are not replayed", () => {
  const loaded = session([sub("$share/g/s/#", 1), sub("z/#", 0), sub("n/#", 1, { noLocal: true })]);
  const added = queueMissed(loaded, [
    msg("s/1", 1),
    msg("z/1", 1),
    msg("n/1", 1, { origin: "c" }),
    msg("n/2", 1, { expiresAt: 10 }),
    msg("n/3", 1, { origin: "other" }),
  ], 100);
  assert.deepEqual(added.map((e) => e.message.topic), ["n/3"]);
});

Deno.test("RETAIN is kept only for Retain As Published subscriptions", () => {
  const kept = queueMissed(session([sub("r/#", 1, { retainAsPublished: true })]), [
    msg("r/1", 1, { retain: true }),
  ], 0);
  const cleared = queueMissed(session([sub("r/#", 1)]), [msg("r/1", 1, { retain: true })], 0);
  assert.equal(kept[0].message.retain, true);
  assert.equal(cleared[0].message.retain, false);
});
