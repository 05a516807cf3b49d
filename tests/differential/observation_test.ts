/** The normalisation and comparison the differential tests rely on, on fixed inputs. */
import assert from "node:assert/strict";
import { PacketType } from "../../src/protocol/packet.ts";
import {
  compareObservations,
  formatDifference,
  pooled,
  renderConnack,
  renderMessage,
  sortRetainedRuns,
} from "./observation.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("a CONNACK is rendered without properties that restate the default, and with the assigned id hidden", () => {
  const line = renderConnack({
    type: PacketType.CONNACK,
    sessionPresent: true,
    reasonCode: 0,
    properties: {
      retainAvailable: 1,
      maximumQoS: 2,
      receiveMaximum: 20,
      assignedClientIdentifier: "auto-1234",
      reasonString: "diagnostics only",
    },
  }, 5);
  assert.equal(line, "CONNACK 0x00 sp=1 receiveMaximum=20 assignedClientIdentifier=<assigned>");
  assert.equal(
    renderConnack({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: 5 }, 4),
    "CONNACK 0x05 sp=0",
  );
});

Deno.test("a message is rendered with its flags and meaningful properties, subscription ids sorted, expiry rounded", () => {
  const line = renderMessage({
    type: PacketType.PUBLISH,
    topic: "a/b",
    payload: bytes("hi"),
    qos: 1,
    retain: true,
    dup: true,
    packetId: 9,
    properties: { subscriptionIdentifiers: [7, 2], messageExpiryInterval: 58, topicAlias: 3 },
  }, 5);
  assert.equal(line, 'MSG a/b "hi" q1 r1 dup expiry~60 subIds=2,7');
});

Deno.test("runs of retained messages are sorted, other messages keep their order", () => {
  assert.deepEqual(
    sortRetainedRuns([
      'MSG b "2" q1 r1',
      'MSG a "1" q1 r1',
      'MSG z "live" q0 r0',
      'MSG y "3" q0 r1',
      'MSG x "4" q0 r1',
    ]),
    ['MSG a "1" q1 r1', 'MSG b "2" q1 r1', 'MSG z "live" q0 r0', 'MSG x "4" q0 r1', 'MSG y "3" q0 r1'],
  );
});

Deno.test("pooled members' messages are compared together, whichever member got which", () => {
  const ours = {
    m1: ["c1 SUBACK [0x01]", 'c1 MSG t "1" q1 r0'],
    m2: ["c1 SUBACK [0x01]", 'c1 MSG t "2" q1 r0'],
  };
  const theirs = {
    m1: ["c1 SUBACK [0x01]", 'c1 MSG t "2" q1 r0'],
    m2: ["c1 SUBACK [0x01]", 'c1 MSG t "1" q1 r0'],
  };
  assert.equal(compareObservations(ours, theirs).length, 2);
  const pools = { group: ["m1", "m2"] };
  assert.deepEqual(compareObservations(pooled(ours, pools), pooled(theirs, pools)), []);
});

Deno.test("a difference names the client and marks the lines that differ", () => {
  const [difference] = compareObservations(
    { a: ["c1 CONNACK 0x00 sp=0", "c1 DISCONNECT 0x8e", "c1 CLOSED"] },
    { a: ["c1 CONNACK 0x00 sp=0", "c1 CLOSED"] },
  );
  assert.equal(difference.client, "a");
  const text = formatDifference(difference);
  assert.match(text, /≠ this broker: c1 DISCONNECT 0x8e\n\s+mosquitto: {3}c1 CLOSED/);
  assert.match(text, /≠ this broker: c1 CLOSED\n\s+mosquitto: {3}\(nothing\)/);
});
