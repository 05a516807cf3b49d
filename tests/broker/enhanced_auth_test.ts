import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import { ManualClock } from "../../src/broker/clock.ts";
import { scramCredential, ScramSha256Authenticator, ScramSha256Client } from "../../src/auth/scram.ts";
import { PacketType, Reason } from "../../src/protocol/packet.ts";
import { TestClient } from "../_helpers/test_client.ts";

async function scramBroker(): Promise<Engine> {
  const users = new Map([["alice", await scramCredential("wonderland", 4096)]]);
  return new Engine({ clock: new ManualClock(), enhancedAuth: [new ScramSha256Authenticator(users)] });
}

function connectWithMethod(b: Engine, method: string, data: Uint8Array): TestClient {
  const client = TestClient.open(b, 5);
  client.send({
    type: PacketType.CONNECT,
    protocolName: "MQTT",
    protocolLevel: 5,
    clean: true,
    keepAlive: 0,
    clientId: "scram",
    properties: { authenticationMethod: method, authenticationData: data },
  });
  return client;
}

Deno.test("SCRAM-SHA-256 over AUTH: continue 0x18, then CONNACK with the method and the server's proof [MQTT-4.12.0-2] [MQTT-4.12.0-5]", async () => {
  const b = await scramBroker();
  const scram = new ScramSha256Client("alice", "wonderland");
  const client = connectWithMethod(b, "SCRAM-SHA-256", scram.first());
  const challenge = await client.expect(PacketType.AUTH);
  assert.equal(challenge.reasonCode, Reason.ContinueAuthentication);
  assert.equal(challenge.properties?.authenticationMethod, "SCRAM-SHA-256");
  client.send({
    type: PacketType.AUTH,
    reasonCode: Reason.ContinueAuthentication,
    properties: {
      authenticationMethod: "SCRAM-SHA-256",
      authenticationData: await scram.final(challenge.properties!.authenticationData!),
    },
  });
  const connack = await client.expect(PacketType.CONNACK);
  assert.equal(connack.reasonCode, 0);
  assert.equal(connack.properties?.authenticationMethod, "SCRAM-SHA-256");
  assert.ok(
    scram.verify(connack.properties!.authenticationData!),
    "the server proved it knows the stored key",
  );
});

Deno.test("SCRAM with a wrong password is refused with CONNACK 0x86 and closed [MQTT-4.12.0-4]", async () => {
  const b = await scramBroker();
  const scram = new ScramSha256Client("alice", "wrong");
  const client = connectWithMethod(b, "SCRAM-SHA-256", scram.first());
  const challenge = await client.expect(PacketType.AUTH);
  client.send({
    type: PacketType.AUTH,
    reasonCode: Reason.ContinueAuthentication,
    properties: {
      authenticationMethod: "SCRAM-SHA-256",
      authenticationData: await scram.final(challenge.properties!.authenticationData!),
    },
  });
  const packets = await client.closedByBroker();
  assert.equal(packets[0].type, PacketType.CONNACK);
  assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.BadUserNameOrPassword);
});

Deno.test("an unknown authentication method is refused with 0x8C [MQTT-4.12.0-1]", async () => {
  const b = await scramBroker();
  const client = connectWithMethod(b, "KERBEROS", new Uint8Array());
  const packets = await client.closedByBroker();
  assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.BadAuthenticationMethod);
});

Deno.test("other packets during the exchange are a protocol error, and no DISCONNECT precedes CONNACK [MQTT-3.14.0-1]", async () => {
  const b = await scramBroker();
  const client = connectWithMethod(b, "SCRAM-SHA-256", new ScramSha256Client("alice", "x").first());
  await client.expect(PacketType.AUTH);
  client.send({ type: PacketType.PINGREQ });
  assert.deepEqual(await client.closedByBroker(), []);
});

Deno.test("re-authentication with AUTH 0x19 ends with AUTH 0x00, or DISCONNECT 0x87 on failure [MQTT-4.12.1-1] [MQTT-4.12.1-2]", async () => {
  const b = await scramBroker();
  const login = (password: string) => {
    const scram = new ScramSha256Client("alice", password);
    return { scram, first: scram.first() };
  };
  const first = login("wonderland");
  const client = connectWithMethod(b, "SCRAM-SHA-256", first.first);
  let challenge = await client.expect(PacketType.AUTH);
  client.send({
    type: PacketType.AUTH,
    reasonCode: Reason.ContinueAuthentication,
    properties: {
      authenticationMethod: "SCRAM-SHA-256",
      authenticationData: await first.scram.final(challenge.properties!.authenticationData!),
    },
  });
  await client.expect(PacketType.CONNACK);
  for (const [password, ok] of [["wonderland", true], ["bad", false]] as const) {
    const again = login(password);
    client.send({
      type: PacketType.AUTH,
      reasonCode: Reason.ReAuthenticate,
      properties: { authenticationMethod: "SCRAM-SHA-256", authenticationData: again.first },
    });
    challenge = await client.expect(PacketType.AUTH);
    client.send({
      type: PacketType.AUTH,
      reasonCode: Reason.ContinueAuthentication,
      properties: {
        authenticationMethod: "SCRAM-SHA-256",
        authenticationData: await again.scram.final(challenge.properties!.authenticationData!),
      },
    });
    if (ok) {
      const done = await client.expect(PacketType.AUTH);
      assert.equal(done.reasonCode, Reason.Success);
      assert.ok(again.scram.verify(done.properties!.authenticationData!));
    } else {
      const packets = await client.closedByBroker();
      assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.NotAuthorized);
    }
  }
});

Deno.test("AUTH from a client that did not authenticate with a method is a protocol error [MQTT-4.12.0-7]", async () => {
  const b = await scramBroker();
  const { client } = await TestClient.connect(b, { clientId: "plain", protocolLevel: 5 });
  client.send({
    type: PacketType.AUTH,
    reasonCode: Reason.ReAuthenticate,
    properties: { authenticationMethod: "SCRAM-SHA-256" },
  });
  const packets = await client.closedByBroker();
  assert.equal((packets[0] as { reasonCode: number }).reasonCode, Reason.ProtocolError);
});
