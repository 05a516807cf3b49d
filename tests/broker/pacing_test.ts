import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { PACING_WAIT_MS } from "../../src/broker/pacing.ts";
import { PacketType, type PublishPacket } from "../../src/protocol/packet.ts";
import { TestClient } from "../_helpers/test_client.ts";

/**
 * A broker with a window of one message per subscriber and pacing at four queued, a subscriber
 * of "t" that acknowledges nothing until told, and a publisher.
 */
async function pacedSetup(pacePublishersAt = 4) {
  const clock = new ManualClock();
  const broker = new Engine({ clock, limits: { maxInflight: 1, pacePublishersAt } });
  await broker.start();
  const { client: sub } = await TestClient.connect(broker, { clientId: "sub" });
  await sub.subscribe("t", 1);
  const { client: pub } = await TestClient.connect(broker, { clientId: "pub" });
  return { clock, broker, sub, pub };
}

/** Publishes `n` QoS 1 messages to "t" and waits for their PUBACKs. */
async function publishAcked(pub: TestClient, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    pub.publish("t", `m${i}`, { qos: 1 });
    await pub.expect(PacketType.PUBACK);
  }
}

/**
 * Whether the broker reads from `client`: a PINGREQ is answered within `ms` (other packets are
 * passed over). Where the answer must not come, 100 ms; where it must, up to 2 s.
 */
async function answersPing(client: TestClient, ms: number): Promise<boolean> {
  client.send({ type: PacketType.PINGREQ });
  for (;;) {
    const packet = await client.next(ms).catch(() => undefined);
    if (packet === undefined) return false;
    if (packet.type === PacketType.PINGRESP) return true;
  }
}

Deno.test("pacing: a publisher that queued past the mark for a subscriber reads on once that queue is half as long", async () => {
  const { broker, sub, pub } = await pacedSetup();
  // One message in the subscriber's window, then five queued: past the mark of four.
  await publishAcked(pub, 6);
  assert.equal(await answersPing(pub, 100), false, "the publisher's next packet is not read yet");
  // The subscriber acknowledges: each PUBACK moves one queued message into its window.
  for (let acked = 0; acked < 3; acked++) {
    const got = await sub.expect(PacketType.PUBLISH) as PublishPacket;
    sub.send({ type: PacketType.PUBACK, packetId: got.packetId!, reasonCode: 0 });
  }
  // Two left queued (the low mark, half of four): the PINGREQ sent meanwhile is answered.
  await pub.expect(PacketType.PINGRESP);
  await broker.close();
});

Deno.test("pacing: a subscriber that does not drain within the wait is not waited for again until it has", async () => {
  const { clock, broker, pub } = await pacedSetup();
  await publishAcked(pub, 6);
  assert.equal(await answersPing(pub, 100), false);
  clock.advance(PACING_WAIT_MS);
  await pub.expect(PacketType.PINGRESP);
  // Stalled: more messages queue for it, and the publisher is read at once.
  await publishAcked(pub, 3);
  assert.equal(await answersPing(pub, 2000), true);
  await broker.close();
});

Deno.test("pacing: a subscriber that goes away wakes the publishers waiting for it", async () => {
  const { broker, sub, pub } = await pacedSetup();
  await publishAcked(pub, 6);
  assert.equal(await answersPing(pub, 100), false);
  sub.drop();
  await pub.expect(PacketType.PINGRESP);
  await broker.close();
});

Deno.test("pacing: a publisher never waits for its own session, nor with pace_publishers_at 0", async () => {
  const own = await pacedSetup();
  await own.pub.subscribe("t", 1);
  await own.sub.disconnect();
  // Its own window of one is full and five more queue for it: it is read on all the same.
  for (let i = 0; i < 6; i++) own.pub.publish("t", `m${i}`, { qos: 1 });
  assert.equal(await answersPing(own.pub, 2000), true);
  await own.broker.close();

  const off = await pacedSetup(0);
  await publishAcked(off.pub, 20);
  assert.equal(await answersPing(off.pub, 2000), true);
  await off.broker.close();
});

Deno.test("pacing: while a publisher is paced, every message arrives once and in order, and each is acknowledged", async () => {
  const { broker, sub, pub } = await pacedSetup();
  const count = 60;
  // The subscriber acknowledges each message as it comes, one at a time (its window is one).
  const received: string[] = [];
  const reading = (async () => {
    while (received.length < count) {
      const got = await sub.expect(PacketType.PUBLISH) as PublishPacket;
      received.push(new TextDecoder().decode(got.payload));
      sub.send({ type: PacketType.PUBACK, packetId: got.packetId!, reasonCode: 0 });
    }
  })();
  // The publisher sends in bursts of ten, past the mark each time, without waiting for PUBACKs.
  let acked = 0;
  for (let burst = 0; burst < count / 10; burst++) {
    for (let i = 0; i < 10; i++) pub.publish("t", `m${burst * 10 + i}`, { qos: 1 });
    await new Promise((r) => setTimeout(r, 0));
  }
  while (acked < count) {
    await pub.expect(PacketType.PUBACK);
    acked++;
  }
  await reading;
  assert.deepEqual(received, Array.from({ length: count }, (_, i) => `m${i}`));
  assert.equal(broker.stats.dropped.queue_full, 0);
  await broker.close();
});
