/**
 * Hostile clients against sessions, on the real broker process (KV store, password
 * file): another user presenting a victim's client id, offline and online, many
 * times; and a client id spelled like the key digest of a long one, across kill -9.
 * After each phase the broker is alive and a well-behaved client gets a QoS 1 round
 * trip within 5 s. The last test runs the first phase against Mosquitto 2.0.11,
 * which hands the session over (the difference docs/security.md records).
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { assertHealthy } from "../_helpers/broker_health.ts";
import { type BrokerProcess, freePort, startBroker } from "../_helpers/broker_process.ts";
import { mosquittoAvailable, startMosquitto } from "../_helpers/mosquitto.ts";
import { login, writeUsers } from "../_helpers/password_users.ts";
import { MiB, mib, rssBytes } from "../_helpers/rss.ts";

const VICTIM_ID = "victim-device";

function yaml(dir: string): string {
  return "persistence:\n  type: kv\n  path: ./data/broker.kv\n  durability: durable\n" +
    `auth:\n  allow_anonymous: true\n  password_file: ${dir}/passwords\nlog:\n  level: warning\n`;
}

interface Attempt {
  reasonCode: number | undefined;
  sessionPresent: boolean;
  messages: string[];
}

/** One CONNECT with `clientId` as `user`; what it got back, and what it received within `listenMs`. */
async function attempt(
  port: number,
  clientId: string,
  options: { user?: string; version?: 4 | 5; clean?: boolean; listenMs?: number } = {},
): Promise<Attempt> {
  const version = options.version ?? 5;
  const messages: string[] = [];
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    clientId,
    protocolVersion: version,
    clean: options.clean ?? false,
    properties: version === 5 ? { sessionExpiryInterval: 3600 } : undefined,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...(options.user === undefined ? {} : login(options.user)),
  });
  client.on("message", (_t, payload) => messages.push(payload.toString()));
  try {
    const connack = await new Promise<mqtt.IConnackPacket>((resolve, reject) => {
      client.once("connect", resolve);
      client.once("error", reject);
    }).catch((err: { code?: number }) => ({
      returnCode: err.code,
      reasonCode: err.code,
      sessionPresent: false,
    }));
    await new Promise((r) => setTimeout(r, options.listenMs ?? 0));
    return {
      reasonCode: connack.reasonCode ?? connack.returnCode,
      sessionPresent: connack.sessionPresent,
      messages,
    };
  } finally {
    client.end(true);
  }
}

/** The victim subscribes with a persistent session, goes offline, and one message is queued for it. */
async function victimWithQueuedMessage(port: number, clientId: string, user?: string): Promise<void> {
  const victim = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId,
    clean: false,
    reconnectPeriod: 0,
    ...(user === undefined ? {} : login(user)),
  });
  await victim.subscribeAsync("private/#", { qos: 1 });
  await victim.endAsync();
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  await pub.publishAsync("private/1", "for the victim", { qos: 1 });
  await pub.endAsync();
}

async function sha256Hex(s: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name: "hostile: session takeover by another user, and key-digest spoofing across kill -9",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "hostile-sessions-" });
    await writeUsers(`${dir}/passwords`, ["alice", "eve"]);
    const port = freePort();
    let broker: BrokerProcess = await startBroker({ yaml: yaml(dir), dir, port });
    const rssAtStart = await rssBytes(broker.child.pid);
    try {
      await t.step(
        "another user presenting an offline session's client id is refused, 40 times",
        async () => {
          await victimWithQueuedMessage(port, VICTIM_ID, "alice");
          for (let i = 0; i < 20; i++) {
            for (const version of [4, 5] as const) {
              const got = await attempt(port, VICTIM_ID, { user: "eve", version, clean: i % 2 === 0 });
              assert.equal(got.reasonCode, version === 5 ? 0x85 : 2);
              assert.equal(got.sessionPresent, false);
              assert.deepEqual(got.messages, []);
            }
          }
          await assertHealthy(broker, "offline takeover attempts");
          const owner = await attempt(port, VICTIM_ID, { user: "alice", listenMs: 300 });
          assert.equal(owner.sessionPresent, true);
          assert.deepEqual(owner.messages, ["for the victim"]);
        },
      );

      await t.step("an online owner survives 100 concurrent takeover attempts by another user", async () => {
        const alice = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
          clientId: VICTIM_ID,
          clean: false,
          reconnectPeriod: 0,
          ...login("alice"),
        });
        let kicked = false;
        alice.on("close", () => kicked = true);
        const live: string[] = [];
        alice.on("message", (_t, p) => live.push(p.toString()));
        const attempts = await Promise.all(
          Array.from(
            { length: 100 },
            (_, i) => attempt(port, VICTIM_ID, { user: "eve", clean: i % 2 === 0 }),
          ),
        );
        assert.deepEqual([...new Set(attempts.map((a) => a.reasonCode))], [0x85]);
        const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
        await pub.publishAsync("private/2", "live for the victim", { qos: 1 });
        await pub.endAsync();
        const deadline = Date.now() + 5000;
        while (live.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(live, ["live for the victim"]);
        assert.equal(kicked, false, "another user's CONNECT closed the owner's connection");
        await alice.endAsync();
        await assertHealthy(broker, "online takeover attempts");
      });

      await t.step(
        "a client id spelled like a long id's key digest gets nothing of it after kill -9",
        async () => {
          const longId = "long-victim-".repeat(50); // 600 bytes: stored under "#" + its SHA-256
          const forged = "#" + await sha256Hex(longId);
          await victimWithQueuedMessage(port, longId);
          await broker.kill();
          broker = await startBroker({ yaml: yaml(dir), dir, port });
          const spoof = await attempt(port, forged, { listenMs: 300 });
          assert.equal(spoof.reasonCode, 0);
          assert.equal(spoof.sessionPresent, false);
          assert.deepEqual(spoof.messages, []);
          // Its own session is now stored: after another kill -9 the two are still apart.
          await broker.kill();
          broker = await startBroker({ yaml: yaml(dir), dir, port });
          const victim = await attempt(port, longId, { listenMs: 300 });
          assert.equal(victim.sessionPresent, true);
          assert.deepEqual(victim.messages, ["for the victim"]);
          await assertHealthy(broker, "key digest spoofing");
        },
      );

      // Nothing is held per refused attempt: a fresh broker is ~60–90 MiB here, and the phases
      // above keep a handful of sessions; 64 MiB of growth would mean something leaks per attempt.
      const growth = (await rssBytes(broker.child.pid)) - rssAtStart;
      assert.ok(growth < 64 * MiB, `RSS grew by ${mib(growth)}`);
    } finally {
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "Mosquitto 2.0.11, on the same scenario, hands a user's session to another user (a deliberate difference)",
  ignore: !mosquittoAvailable,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mosquitto-owner-" });
    const passwords = `${dir}/passwords`;
    await new Deno.Command("mosquitto_passwd", { args: ["-c", "-b", passwords, "alice", "alice-pw"] })
      .output();
    await new Deno.Command("mosquitto_passwd", { args: ["-b", passwords, "eve", "eve-pw"] }).output();
    await Deno.chmod(dir, 0o755);
    await Deno.chmod(passwords, 0o644);
    const mosquitto = await startMosquitto({ dir, extra: [`password_file ${passwords}`] });
    try {
      await victimWithQueuedMessage(mosquitto.port, VICTIM_ID, "alice");
      const eve = await attempt(mosquitto.port, VICTIM_ID, { user: "eve", listenMs: 300 });
      assert.equal(eve.reasonCode, 0);
      assert.equal(eve.sessionPresent, true);
      assert.deepEqual(eve.messages, ["for the victim"]);
    } finally {
      await mosquitto.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
