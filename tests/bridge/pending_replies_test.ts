import assert from "node:assert/strict";
import { PendingReplies } from "../../src/bridge/pending_replies.ts";
import { PacketType } from "../../src/protocol/packet.ts";

Deno.test("a reply settles the wait with the same packet id", async () => {
  const replies = new PendingReplies(1000, () => {});
  const waiting = replies.wait(3);
  assert.equal(replies.has(3), true);
  replies.settle(3, { type: PacketType.UNSUBACK, packetId: 3, reasonCodes: [] });
  assert.deepEqual(await waiting, { type: PacketType.UNSUBACK, packetId: 3, reasonCodes: [] });
  assert.equal(replies.has(3), false);
});

Deno.test("a late reply fails the wait and reports the timeout", async () => {
  let timedOut = false;
  const replies = new PendingReplies(10, () => timedOut = true);
  await assert.rejects(replies.wait(1), /no reply/);
  assert.equal(timedOut, true);
});

Deno.test("every wait fails when the connection ends", async () => {
  const replies = new PendingReplies(1000, () => {});
  const a = replies.wait(1);
  const b = replies.wait(2);
  replies.failAll(new Error("connection closed"));
  await assert.rejects(a, /connection closed/);
  await assert.rejects(b, /connection closed/);
});
