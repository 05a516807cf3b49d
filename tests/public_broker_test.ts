/** The public Broker: one type from the library, the server program and serverless mode alike. */
import assert from "node:assert/strict";
import { parseConfig } from "../src/config/load_config.ts";
import { Broker } from "../src/mod.ts";
import { startServer } from "../src/server.ts";
import { startServerless } from "../src/serverless/serverless.ts";
import { PacketType } from "../src/protocol/packet.ts";
import { TestClient } from "./_helpers/test_client.ts";

/** Whether something accepts TCP connections on `port`. */
async function accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("startServer returns the public Broker: it listens on more ports and publishes like any", async () => {
  const config = parseConfig(
    "listeners: [{ port: 0 }]\npersistence: { type: memory }\nsys: { interval: 0 }\n",
    "t.yaml",
  );
  const server = await startServer(config);
  try {
    const broker: Broker = server.broker;
    assert.ok(broker instanceof Broker);
    const extra = await broker.listen({ type: "tcp", host: "127.0.0.1", port: 0 });
    assert.ok(await accepts(extra.port));
    const sub = broker.subscribe("api/#");
    await broker.publish({ topic: "api/x", payload: "1" });
    const reader = sub.getReader();
    assert.equal((await reader.read()).value?.topic, "api/x");
    await reader.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("startServerless returns the public Broker", async () => {
  const dir = await Deno.makeTempDir({ prefix: "public-serverless-" });
  const app = await startServerless({ kvPath: `${dir}/mqtt.kv`, channel: `public-${crypto.randomUUID()}` });
  try {
    assert.ok(app.broker instanceof Broker);
    assert.equal(app.broker.admin.sizes().sessions, 0);
  } finally {
    await app.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("await using closes the broker with its listeners and clients", async () => {
  let port = 0;
  let client: TestClient | undefined;
  {
    await using broker = new Broker();
    await broker.start();
    port = (await broker.listen({ type: "tcp", host: "127.0.0.1", port: 0 })).port;
    client = (await TestClient.connect(broker, { clientId: "c", protocolLevel: 5 })).client;
  }
  assert.equal(await accepts(port), false);
  const last = (await client.closedByBroker()).at(-1);
  assert.equal(last?.type, PacketType.DISCONNECT);
  assert.equal((last as { reasonCode: number }).reasonCode, 0x8b);
});

Deno.test("a broker's hooks, publish and admin view work through the façade", async () => {
  const seen: string[] = [];
  const broker = new Broker().use({ onPublished: (_client, m) => void seen.push(m.topic) });
  await broker.start();
  await broker.publish({ topic: "kept", payload: "r", retain: true });
  assert.deepEqual(seen, ["kept"]);
  assert.deepEqual(broker.admin.retained("#").map((m) => m.topic), ["kept"]);
  assert.equal(broker.admin.counters.messagesReceived, 1);
  await assert.rejects(broker.publish({ topic: "bad/#", payload: "" }));
  await broker.close();
});
