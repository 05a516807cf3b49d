import assert from "node:assert/strict";
import { Session, subscriptionKey, treeFilter } from "../../src/broker/session.ts";

Deno.test("a shared subscription is held in the topic tree under its filter without the share prefix", () => {
  assert.equal(treeFilter({ filter: "$share/g1/a/+/c", group: "g1" }), "a/+/c");
  assert.equal(treeFilter({ filter: subscriptionKey("#", "workers"), group: "workers" }), "#");
  assert.equal(treeFilter({ filter: "a/b" }), "a/b", "a non-shared one keeps its filter");
  assert.equal(treeFilter({ filter: "a/b", group: null }), "a/b", "as the admin API lists it (group null)");
});

Deno.test("a session's counts follow its subscriptions, in-flight window and queue, which start empty", () => {
  const session = new Session("c", 4, 0);
  assert.deepEqual([session.subscriptionCount, session.inflightCount, session.queuedCount], [0, 0, 0]);
  session.subscriptions.set("a/b", {
    filter: "a/b",
    qos: 1,
    session,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0,
  });
  const entry = session.newEntry({ topic: "a/b", payload: new Uint8Array(1), qos: 1, retain: false }, 1);
  session.queue.push(entry);
  entry.packetId = session.allocatePacketId();
  session.inflight.set(entry.packetId, entry);
  assert.deepEqual([session.subscriptionCount, session.inflightCount, session.queuedCount], [1, 1, 1]);
  session.clearSubscriptions();
  assert.equal(session.subscriptionCount, 0);
  assert.equal(session.subscriptions.size, 0, "a cleared session starts a new map when subscribed again");
});
