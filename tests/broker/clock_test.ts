/**
 * The real clock at its limits. `setTimeout` waits at most 2^31-1 ms (~24.8 days) and
 * fires a longer timer after 1 ms, so a v5 Session Expiry of 30 days deleted the
 * session at once. ManualClock never showed it: these tests use the real clock, and a
 * real broker process with the largest intervals the protocol allows.
 */
import assert from "node:assert/strict";
import { LONGEST_TIMEOUT_MS, realClock, systemClock } from "../../src/broker/clock.ts";
import { startBroker } from "../_helpers/broker_process.ts";
import { describe } from "../_helpers/packet_queue.ts";
import { WireClient } from "../_helpers/wire_client.ts";
import { type ConnectPacket, PacketType, type Properties } from "../../src/protocol/packet.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The clock's timers are unref'd: an ordinary timer keeps the test's event loop alive meanwhile. */
async function held<T>(promise: Promise<T>): Promise<T> {
  const hold = setTimeout(() => {}, 10_000);
  try {
    return await promise;
  } finally {
    clearTimeout(hold);
  }
}

Deno.test("the real clock does not fire a timer longer than 2^31-1 ms early", async () => {
  let fired = 0;
  const handles = [LONGEST_TIMEOUT_MS + 1, 2_592_000_000, 999_999_999_000, 0xfffffffe * 1000].map((ms) =>
    systemClock.setTimer(() => fired++, ms)
  );
  await sleep(200);
  for (const handle of handles) systemClock.clearTimer(handle);
  assert.equal(fired, 0);
});

Deno.test("a timer longer than one wait of the real clock is chained and fires at its deadline, not before", async () => {
  // Waits of at most 20 ms stand in for 2^31-1: a 130 ms timer takes seven of them.
  const clock = realClock(20);
  const started = performance.now();
  const elapsed = await held(
    new Promise<number>((resolve) => clock.setTimer(() => resolve(performance.now() - started), 130)),
  );
  // Date.now() has millisecond resolution: allow the one millisecond it can round away.
  assert.ok(elapsed >= 128, `fired after ${elapsed} ms`);
});

Deno.test("clearing a chained timer of the real clock between its waits cancels it", async () => {
  const clock = realClock(20);
  let fired = false;
  const handle = clock.setTimer(() => fired = true, 100);
  await sleep(50); // two waits have passed; the third is pending
  clock.clearTimer(handle);
  await sleep(120);
  assert.equal(fired, false);
});

Deno.test("the real clock clears single and chained timers, and fires a NaN delay at once", async () => {
  const clock = realClock(20);
  let fired = 0;
  const single = clock.setTimer(() => fired++, 10);
  const chained = clock.setTimer(() => fired++, 30);
  clock.clearTimer(single);
  clock.clearTimer(chained);
  await held(new Promise<void>((resolve) => clock.setTimer(resolve, NaN)));
  await sleep(60);
  assert.equal(fired, 0);
});

async function connect(
  port: number,
  clientId: string,
  options: { clean: boolean; properties?: Properties; will?: ConnectPacket["will"] },
): Promise<{ client: WireClient; sessionPresent: boolean }> {
  const client = await WireClient.open({ port, level: 5, timeoutMs: 2000 });
  await client.send({
    type: PacketType.CONNECT,
    protocolName: "MQTT",
    protocolLevel: 5,
    keepAlive: 0,
    clientId,
    ...options,
  });
  const connack = await client.expect(PacketType.CONNACK, 5000);
  assert.equal(connack.reasonCode, 0, describe(connack));
  return { client, sessionPresent: connack.sessionPresent };
}

async function subscribe(client: WireClient, filter: string): Promise<void> {
  await client.send({
    type: PacketType.SUBSCRIBE,
    packetId: 1,
    subscriptions: [{ filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  const suback = await client.expect(PacketType.SUBACK);
  assert.deepEqual(suback.reasonCodes, [1]);
}

/** Sessions whose expiry a 32-bit setTimeout could not hold: [expiry at CONNECT, expiry at DISCONNECT]. */
const LONG_SESSIONS: [string, number, number | undefined][] = [
  ["expiry-max", 0xfffffffe, undefined],
  ["expiry-30-days", 2_592_000, undefined],
  ["expiry-at-disconnect", 60, 999_999_999],
];

Deno.test("a broker process keeps sessions with expiry 0xFFFFFFFE, 2 592 000 and 999 999 999 s (set at DISCONNECT) with their subscription and queued message [MQTT-4.1.0-2]", async () => {
  const broker = await startBroker();
  try {
    for (const [id, atConnect, atDisconnect] of LONG_SESSIONS) {
      const { client } = await connect(broker.port, id, {
        clean: true,
        properties: { sessionExpiryInterval: atConnect },
      });
      await subscribe(client, `long/${id}`);
      await client.send({
        type: PacketType.DISCONNECT,
        reasonCode: 0,
        properties: atDisconnect === undefined ? undefined : { sessionExpiryInterval: atDisconnect },
      });
      await client.waitEnded(2000);
      client.close();
    }
    const { client: publisher } = await connect(broker.port, "publisher", { clean: true });
    for (const [id] of LONG_SESSIONS) {
      await publisher.send({
        type: PacketType.PUBLISH,
        topic: `long/${id}`,
        payload: new TextEncoder().encode(`for ${id}`),
        qos: 1,
        retain: false,
        dup: false,
        packetId: 7,
      });
      await publisher.expect(PacketType.PUBACK);
    }
    publisher.close();
    // A timer cut to 1 ms would have fired long before this.
    await sleep(300);
    for (const [id] of LONG_SESSIONS) {
      const { client, sessionPresent } = await connect(broker.port, id, { clean: false });
      assert.equal(sessionPresent, true, `${id}: the session is still there`);
      const message = await client.expect(PacketType.PUBLISH);
      assert.equal(message.topic, `long/${id}`);
      assert.equal(new TextDecoder().decode(message.payload), `for ${id}`);
      client.close();
    }
  } finally {
    await broker.stop();
  }
});

Deno.test("a broker process holds a will delayed by 0xFFFFFFFE s instead of publishing it at once [MQTT-3.1.3-9]", async () => {
  const broker = await startBroker();
  try {
    const { client: watcher } = await connect(broker.port, "watcher", { clean: true });
    await subscribe(watcher, "wills/#");
    const { client } = await connect(broker.port, "long-will", {
      clean: true,
      properties: { sessionExpiryInterval: 0xffffffff },
      will: {
        topic: "wills/long-will",
        payload: new TextEncoder().encode("gone"),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 0xfffffffe },
      },
    });
    client.close(); // no DISCONNECT: the will is due after its delay
    assert.equal(await watcher.waitForPacket(500), false, "no will within 500 ms");
    watcher.close();
  } finally {
    await broker.stop();
  }
});
