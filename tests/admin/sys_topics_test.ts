import assert from "node:assert/strict";
import { SysTopics } from "../../src/admin/sys_topics.ts";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { PacketType } from "../../src/protocol/packet.ts";
import type { StoredMessage } from "../../src/persistence/store.ts";
import { TestClient, text } from "../_helpers/test_client.ts";

/** What the server gives $SYS: the admin view, the clock, and uncounted publishing. */
const sysSource = (broker: Engine) => ({
  admin: broker.admin,
  clock: broker.clock,
  publish: (message: StoredMessage) => broker.publishInternal(message, false),
});

Deno.test("$SYS topics are retained, use Mosquitto's names, and update every interval", async () => {
  const clock = new ManualClock();
  const broker = new Engine({ clock, version: "9.9.9" });
  const sys = new SysTopics(sysSource(broker), 10);
  sys.start();
  const c = await TestClient.connect(broker, { clientId: "ops" });
  await c.client.subscribe("$SYS/broker/clients/connected");
  const first = await c.client.expect(PacketType.PUBLISH);
  assert.equal(first.retain, true);
  assert.equal(text(first), "0");
  const values = sys.values();
  for (const name of ["version", "uptime", "clients/total", "messages/received", "subscriptions/count"]) {
    assert.ok(values.has(name), name);
  }
  assert.equal(values.get("version"), "deno-mqtt-broker 9.9.9");
  clock.advance(10_000);
  const next = await c.client.expect(PacketType.PUBLISH);
  assert.equal(text(next), "1");
  assert.equal(values.get("retained messages/count") !== undefined, true);
  sys.stop();
});

Deno.test("$SYS updates do not count as received messages, and # does not match them", async () => {
  const clock = new ManualClock();
  const broker = new Engine({ clock });
  const c = await TestClient.connect(broker, { clientId: "all" });
  await c.client.subscribe("#");
  const sys = new SysTopics(sysSource(broker), 5);
  sys.start();
  clock.advance(5_000);
  assert.equal(broker.stats.messagesReceived, 0);
  c.client.send({ type: PacketType.PINGREQ });
  assert.equal((await c.client.expect(PacketType.PINGRESP)).type, PacketType.PINGRESP);
  sys.stop();
});

Deno.test("load averages follow the message rate", () => {
  const clock = new ManualClock();
  const broker = new Engine({ clock });
  const sys = new SysTopics(sysSource(broker), 60);
  sys.values();
  broker.stats.messagesReceived += 600;
  clock.advance(60_000);
  const values = sys.values();
  assert.equal(values.get("load/messages/received/1min"), "600.00");
});
