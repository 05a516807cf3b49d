/**
 * What every hostile-client phase asserts afterwards about the broker process:
 * it is still running, a well-behaved client gets a QoS 1 round trip within
 * 5 s, and its resident memory is within the bound the phase justifies.
 */
import assert from "node:assert/strict";
import { PacketType } from "../../src/protocol/packet.ts";
import type { BrokerProcess } from "./broker_process.ts";
import { mib, rssBytes } from "./rss.ts";
import { WireClient } from "./wire_client.ts";

/** Whether the child process is still running. */
export async function isAlive(broker: BrokerProcess): Promise<boolean> {
  return await Promise.race([
    broker.child.status.then(() => false),
    new Promise<boolean>((r) => setTimeout(() => r(true), 0)),
  ]);
}

/**
 * A fresh v5 client subscribes with QoS 1 to a topic of its own and publishes one QoS 1
 * message to it: the PUBACK and the message must both arrive within `withinMs` (5 s).
 * Resolves with the round-trip time in ms.
 */
export async function qos1RoundTrip(port: number, withinMs = 5000): Promise<number> {
  const started = performance.now();
  const client = await WireClient.connect({ port, timeoutMs: withinMs });
  try {
    const topic = `health/${crypto.randomUUID()}`;
    await client.subscribe(topic, 1);
    const left = () => Math.max(1, withinMs - (performance.now() - started));
    await client.publish(topic, new TextEncoder().encode("ping"), { qos: 1, packetId: 1 });
    const seen = new Set<number>();
    while (!(seen.has(PacketType.PUBACK) && seen.has(PacketType.PUBLISH))) {
      const packet = await client.next(left());
      seen.add(packet.type);
      if (packet.type === PacketType.PUBLISH && packet.qos === 1) {
        await client.send({ type: PacketType.PUBACK, packetId: packet.packetId!, reasonCode: 0 });
      }
    }
    const ms = performance.now() - started;
    assert.ok(ms <= withinMs, `QoS 1 round trip took ${ms.toFixed(0)} ms`);
    return ms;
  } finally {
    client.close();
  }
}

/** The three checks after a phase; `maxRss` is the bound, in bytes, that the phase justifies. */
export async function assertHealthy(broker: BrokerProcess, maxRss: number, phase: string): Promise<void> {
  assert.ok(await isAlive(broker), `${phase}: the broker exited:\n${broker.output().slice(-2000)}`);
  await qos1RoundTrip(broker.port);
  const rss = await rssBytes(broker.child.pid);
  assert.ok(rss <= maxRss, `${phase}: RSS ${mib(rss)} is over the bound of ${mib(maxRss)}`);
}
