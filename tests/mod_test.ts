/** The public library API: src/mod.ts. */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Broker, PacketType } from "../src/mod.ts";
import { decodePacket, encodePacket } from "../src/protocol/codec.ts";
import { FrameSplitter } from "../src/protocol/frame_stream.ts";

Deno.test("broker.subscribe yields matching messages as an async iterable and unsubscribes on break", async () => {
  const broker = new Broker();
  await broker.publish({ topic: "sensors/old/temp", payload: "retained", retain: true });
  const stream = broker.subscribe("sensors/+/temp", { retained: true });
  await broker.publish({ topic: "sensors/kitchen/temp", payload: "21.5" });
  await broker.publish({ topic: "sensors/kitchen/humidity", payload: "40" });
  const seen: string[] = [];
  for await (const m of stream) {
    seen.push(`${m.topic}=${new TextDecoder().decode(m.payload)}`);
    if (seen.length === 2) break;
  }
  assert.deepEqual(seen, ["sensors/old/temp=retained", "sensors/kitchen/temp=21.5"]);
  assert.equal(broker.admin.sizes().subscriptions, 0, "breaking the loop unsubscribed");
  await broker.close();
});

Deno.test("a stalled in-process subscriber drops messages beyond its buffer instead of growing", async () => {
  const broker = new Broker();
  const stream = broker.subscribe("x", { bufferSize: 10 });
  for (let i = 0; i < 50; i++) await broker.publish({ topic: "x", payload: `${i}` });
  assert.ok(broker.admin.counters.dropped.slow_consumer >= 40);
  await stream.cancel();
  await broker.close();
});

Deno.test("broker.handle serves a client over any duplex byte stream", async () => {
  const broker = new Broker();
  const toBroker = new TransformStream<Uint8Array, Uint8Array>();
  const fromBroker = new TransformStream<Uint8Array, Uint8Array>();
  broker.handle({ readable: toBroker.readable, writable: fromBroker.writable });
  const w = toBroker.writable.getWriter();
  await w.write(
    encodePacket({
      type: PacketType.CONNECT,
      protocolName: "MQTT",
      protocolLevel: 4,
      clean: true,
      keepAlive: 0,
      clientId: "pipe",
    }, 4),
  );
  const reader = fromBroker.readable.getReader();
  const { value } = await reader.read();
  const [frame] = new FrameSplitter().push(value!);
  assert.deepEqual(decodePacket(frame, 4), {
    type: PacketType.CONNACK,
    sessionPresent: false,
    reasonCode: 0,
  });
  await w.close();
  await broker.close();
});

Deno.test({
  name: "broker.listen serves mqtt.js, and a direct publish reaches it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const broker = new Broker();
    await broker.start();
    const listener = await broker.listen({ type: "tcp", host: "127.0.0.1", port: 0 });
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${listener.port}`, { reconnectPeriod: 0 });
    const got = new Promise<string>((resolve) => client.once("message", (_t, p) => resolve(p.toString())));
    await client.subscribeAsync("api/direct");
    await broker.publish({ topic: "api/direct", payload: "from the library", qos: 1 });
    assert.equal(await got, "from the library");
    await client.endAsync();
    await broker.close();
  },
});
