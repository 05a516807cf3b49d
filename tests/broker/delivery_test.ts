import assert from "node:assert/strict";
import { ManualClock } from "../../src/broker/clock.ts";
import { outboundPublish, sharedProperties, stampExpiry } from "../../src/broker/delivery.ts";
import type { StoredMessage } from "../../src/persistence/store.ts";
import { PacketType } from "../../src/protocol/packet.ts";
import { propertyBytes } from "../../src/protocol/properties.ts";

const message = (): StoredMessage => ({
  topic: "t",
  payload: new Uint8Array([1]),
  qos: 1,
  retain: false,
  properties: {
    userProperties: [["b", "1"], ["a", "2"]],
    responseTopic: "reply",
    messageExpiryInterval: 30,
  },
  expiresAt: 30_000,
});

Deno.test("a message's properties are encoded once: every delivery and every copy of it shares the bytes", () => {
  const m = message();
  const bytes = sharedProperties(m)!;
  assert.equal(sharedProperties(m), bytes, "the same bytes, not an equal encoding");
  assert.equal(sharedProperties({ ...m, retain: true }), bytes, "a retained or queued copy shares them too");
  // What differs per delivery is not part of them.
  assert.deepEqual(
    bytes,
    propertyBytes({ userProperties: [["b", "1"], ["a", "2"]], responseTopic: "reply" }, PacketType.PUBLISH),
  );
  assert.equal(sharedProperties({ ...m, properties: { messageExpiryInterval: 5 } }), undefined);
  assert.equal(sharedProperties({ ...m, properties: undefined }), undefined);
});

Deno.test("an outbound PUBLISH carries only the properties of its delivery: remaining expiry and subscription ids", () => {
  const packet = outboundPublish(message(), 1, false, [7], 10_000);
  assert.deepEqual(packet.properties, { messageExpiryInterval: 20, subscriptionIdentifiers: [7] });
  const plain = outboundPublish({ ...message(), expiresAt: undefined }, 0, false, undefined, 0);
  assert.equal(plain.properties, undefined);
});

Deno.test("a message expires its Message Expiry Interval after it arrived here [MQTT-3.3.2-6]", () => {
  const clock = new ManualClock(5_000);
  const m = message();
  stampExpiry(m, clock);
  assert.equal(m.expiresAt, 35_000);
  const forever: StoredMessage = {
    topic: "t",
    payload: new Uint8Array(),
    qos: 0,
    retain: false,
    properties: {},
  };
  stampExpiry(forever, clock);
  assert.equal(forever.expiresAt, undefined, "without an interval it never expires");
});
