import assert from "node:assert/strict";
import { InboundAcks } from "../../src/bridge/inbound_acks.ts";
import { type AckPacket, PacketType } from "../../src/protocol/packet.ts";

/** Acks as "TYPE id" lines, e.g. "4 7" for PUBACK 7. */
function recorder() {
  const sent: string[] = [];
  const acks = new InboundAcks((ack: AckPacket) => sent.push(`${ack.type} ${ack.packetId}`));
  return { sent, acks };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("a later message taken first is acknowledged only after the earlier one [MQTT-4.6.0-2]", async () => {
  const { sent, acks } = recorder();
  let first!: () => void;
  acks.after(new Promise<void>((r) => first = r), 1, 1);
  acks.after(Promise.resolve(), 1, 2);
  await tick();
  assert.deepEqual(sent, []);
  first();
  await tick();
  assert.deepEqual(sent, [`${PacketType.PUBACK} 1`, `${PacketType.PUBACK} 2`]);
});

Deno.test("a message not taken is skipped: no acknowledgement, and the next ones still go", async () => {
  const { sent, acks } = recorder();
  acks.after(Promise.reject(new Error("not taken")), 1, 1);
  acks.after(Promise.resolve(), 1, 2);
  await tick();
  assert.deepEqual(sent, [`${PacketType.PUBACK} 2`]);
});

Deno.test("a QoS 2 message is taken once: PUBREC, PUBREC again for a resend, PUBCOMP after PUBREL", async () => {
  const { sent, acks } = recorder();
  acks.after(Promise.resolve(), 2, 5);
  await tick();
  assert.equal(acks.taken(5), true);
  acks.repeatPubrec(5);
  acks.released(5);
  await tick();
  assert.equal(acks.taken(5), false);
  assert.deepEqual(sent, [`${PacketType.PUBREC} 5`, `${PacketType.PUBREC} 5`, `${PacketType.PUBCOMP} 5`]);
});
