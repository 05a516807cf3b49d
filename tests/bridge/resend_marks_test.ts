import assert from "node:assert/strict";
import { ResendMarks } from "../../src/bridge/resend_marks.ts";

Deno.test("a resend of a message already sent on is a retransmission; one never sent on is not [MQTT-3.3.1-3]", () => {
  const marks = new ResendMarks();
  assert.equal(marks.arrived(7, false), false);
  marks.sent(7);
  // The connection dropped before the acknowledgement: the source resends with DUP.
  assert.equal(marks.arrived(7, true), true);
  assert.equal(marks.arrived(8, false), false);
  // Never written to the other side (it was down): its resend is a first transmission there.
  assert.equal(marks.arrived(8, true), false);
});

Deno.test("a resend with no history in this process keeps the source's DUP; a completed flow frees its id", () => {
  const marks = new ResendMarks();
  assert.equal(marks.arrived(3, true), true);
  marks.sent(3);
  marks.done(3);
  assert.equal(marks.size, 0);
  // The id names a new message now.
  assert.equal(marks.arrived(3, false), false);
  marks.sent(3);
  // A first delivery reusing an id resets what was known about it.
  assert.equal(marks.arrived(3, false), false);
});
