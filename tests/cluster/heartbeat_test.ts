import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import { Engine } from "../../src/broker/broker.ts";
import { type Heartbeat, Heartbeats } from "../../src/cluster/heartbeat.ts";
import { decodeRecord } from "../../src/cluster/record_codec.ts";
import { MemoryStore } from "../../src/persistence/memory_store.ts";
import { PacketType, Reason } from "../../src/protocol/packet.ts";
import { TestClient } from "../_helpers/test_client.ts";
import { natsTest } from "../_helpers/nats_cluster.ts";

natsTest(
  "a heartbeat records the stored position, again before a delete only when it moved on",
  async (nc, t) => {
    const nodes = await nc.jetstream().views.kv("nodes_test", { history: 1 });
    const jsm = await nc.jetstreamManager();
    let stored = 7;
    const heartbeats = new Heartbeats({
      nc,
      jsm,
      nodes,
      bucket: "nodes_test",
      instance: "n:1",
      stored: () => stored,
      deadAfterMs: 1000,
    });
    const recorded = async () => decodeRecord<Heartbeat>((await nodes.get("n_3A1"))!.value).cursor;

    await t.step("the heartbeat carries the position up to which routing is stored", async () => {
      await heartbeats.beat();
      assert.equal(await recorded(), 7);
    });

    await t.step("before a delete it is written again only if the position moved on", async () => {
      const revision = (await nodes.get("n_3A1"))!.revision;
      await heartbeats.beatIfBehind();
      assert.equal((await nodes.get("n_3A1"))!.revision, revision);
      stored = 9;
      await heartbeats.beatIfBehind();
      assert.equal(await recorded(), 9);
    });

    await t.step("a node declared dead lets all its sessions go, closing their connections", async () => {
      const broker = new Engine({ store: new MemoryStore() });
      await broker.start();
      const { client } = await TestClient.connect(broker, {
        clientId: "kept",
        protocolLevel: 5,
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      });
      await heartbeats.fenceIfDeclaredDead(broker.peerPort, getLogger(["mqtt", "test"]));
      assert.equal(broker.sessions.size, 1);
      await nodes.create("dead.n_3A1", new TextEncoder().encode("{}"));
      await heartbeats.fenceIfDeclaredDead(broker.peerPort, getLogger(["mqtt", "test"]));
      assert.equal((await client.expect(PacketType.DISCONNECT)).reasonCode, Reason.SessionTakenOver);
      assert.equal(broker.sessions.size, 0);
      await broker.close();
    });
  },
);
