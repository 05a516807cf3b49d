import assert from "node:assert/strict";
import { BRIDGE_USERNAME, BridgeTrust, localClientId, openLocal } from "../../src/bridge/local_link.ts";
import { MqttClient } from "../../src/bridge/mqtt_client.ts";
import { Broker } from "../../src/mod.ts";
import { PacketType, Reason } from "../../src/protocol/packet.ts";
import { collect } from "../_helpers/bridge_fixtures.ts";
import { waitFor } from "../_helpers/wait_for.ts";
import { TestClient } from "../_helpers/test_client.ts";

/** A broker whose own authorizer refuses every topic, with the bridge trust around it. */
async function lockedBroker(trust: BridgeTrust): Promise<Broker> {
  const broker = new Broker({
    authenticator: trust.authenticator(undefined),
    authorizer: trust.authorizer({ authorize: () => false }),
  });
  await broker.start();
  return broker;
}

Deno.test("a network client claiming a bridge's client id is refused, with or without a guessed password", async () => {
  const trust = new BridgeTrust(["hub"]);
  const broker = await lockedBroker(trust);
  try {
    for (const password of [undefined, new Uint8Array(32)]) {
      const { connack } = await TestClient.connect(broker, {
        clientId: localClientId("hub"),
        protocolLevel: 5,
        username: BRIDGE_USERNAME,
        password,
      });
      assert.equal(connack.reasonCode, Reason.NotAuthorized);
    }
  } finally {
    await broker.close();
  }
});

Deno.test("the bridge's local session presents the secret and may publish where the authorizer refuses others", async () => {
  const trust = new BridgeTrust(["hub"]);
  const broker = await lockedBroker(trust);
  const seen = collect(broker, "any/#");
  try {
    const { client } = await MqttClient.connect(openLocal(broker, "hub"), {
      protocolName: "MQTT",
      protocolLevel: 5,
      clean: true,
      keepAlive: 0,
      clientId: localClientId("hub"),
      username: BRIDGE_USERNAME,
      password: trust.secret,
    }, { onMessage: () => {} });
    assert.equal(
      await client.publish({ topic: "any/where", payload: new Uint8Array([1]), qos: 1, retain: false }),
      0,
    );
    await waitFor("the bridge's message", () => seen.lines.length === 1);
    client.disconnect();

    const { client: other } = await TestClient.connect(broker, { clientId: "other", protocolLevel: 5 });
    other.publish("any/where", "x", { qos: 1 });
    assert.equal((await other.expect(PacketType.PUBACK)).reasonCode, Reason.NotAuthorized);
  } finally {
    await seen.stop();
    await broker.close();
  }
});

Deno.test("the bridge's local connection is exempt from the connection limit and the message rate", async () => {
  const trust = new BridgeTrust(["hub"]);
  const broker = new Broker({
    authenticator: trust.authenticator(undefined),
    authorizer: trust.authorizer(undefined),
    limits: { maxConnections: 1, messageRate: 2 },
  });
  await broker.start();
  try {
    const { client: other } = await TestClient.connect(broker, { clientId: "other" });
    const { client } = await MqttClient.connect(openLocal(broker, "hub"), {
      protocolName: "MQTT",
      protocolLevel: 5,
      clean: true,
      keepAlive: 0,
      clientId: localClientId("hub"),
      username: BRIDGE_USERNAME,
      password: trust.secret,
    }, { onMessage: () => {} });
    const codes = await Promise.all(
      [1, 2, 3, 4, 5].map((n) =>
        client.publish({ topic: `busy/${n}`, payload: new Uint8Array([n]), qos: 1, retain: false })
      ),
    );
    assert.deepEqual(codes, [0x10, 0x10, 0x10, 0x10, 0x10]); // accepted; nobody subscribed
    assert.equal(client.isClosed, false);
    client.disconnect();
    other.disconnect();
  } finally {
    await broker.close();
  }
});

Deno.test("the bridge trust passes per-message read checks through to the inner authorizer, bridges exempt", () => {
  const trust = new BridgeTrust(["hub"]);
  assert.equal(trust.authorizer({ authorize: () => true }).authorizeDelivery, undefined);
  const inner = { authorize: () => true, authorizeDelivery: (_c: unknown, topic: string) => topic === "ok" };
  const wrapped = trust.authorizer(inner);
  assert.equal(wrapped.authorizeDelivery!({ clientId: "alice" }, "ok"), true);
  assert.equal(wrapped.authorizeDelivery!({ clientId: "alice" }, "secret"), false);
  assert.equal(wrapped.authorizeDelivery!({ clientId: localClientId("hub") }, "secret"), true);
});
