import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import type { ReceivedMessage } from "../../src/broker/local_subscription.ts";
import { fakePeers } from "../_helpers/fake_peers.ts";

async function first(stream: ReadableStream<ReceivedMessage>, ms = 100): Promise<string | undefined> {
  const reader = stream.getReader();
  const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms));
  const got = await Promise.race([reader.read().then((r) => r.value?.topic), timeout]);
  await reader.cancel();
  return got;
}

Deno.test("with stream-routing peers (a cluster), share groups are served only when the peers pick this node for them", async () => {
  const broker = new Engine();
  await broker.start();
  broker.attachPeers(fakePeers().link);
  const member = broker.subscribe("$share/g/t/#");
  const plain = broker.subscribe("t/#");
  await broker.publishInternal({ topic: "t/1", payload: new Uint8Array(1), qos: 0, retain: false });
  assert.equal(await first(plain), "t/1");
  assert.equal(await first(member), undefined);
  const again = broker.subscribe("$share/g/t/#");
  const other = broker.subscribe("$share/h/t/#");
  await broker.peerPort.deliver({ topic: "t/2", payload: new Uint8Array(1), qos: 0, retain: false }, {
    group: { group: "g", filter: "t/#" },
  });
  assert.equal(await first(again), "t/2");
  assert.equal(await first(other), undefined);
  await broker.close();
});
