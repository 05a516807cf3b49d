/**
 * The same acl_file and the same mosquitto_passwd file give the same decisions in
 * this broker and in Mosquitto 2.0: a matrix of (user, client id, access, topic)
 * cases observed by behaviour in both brokers. Read: the client subscribes, a
 * privileged client publishes, and the message arrives or not. Write: the client
 * publishes, and a privileged subscriber gets it or not. Each client ends with a
 * marker message on a topic everyone may use; once the marker is in, everything
 * before it that was going to arrive has arrived (one publisher, in order).
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { hashPassword } from "../../src/auth/password_file.ts";
import { hasCommand, run, startBroker } from "../_helpers/broker_process.ts";
import { mosquittoAvailable, startMosquitto } from "../_helpers/mosquitto.ts";
import { waitFor } from "../_helpers/wait_for.ts";

const withMosquitto = mosquittoAvailable && await hasCommand("mosquitto_passwd");
if (!withMosquitto) {
  console.warn("acl matrix: mosquitto or mosquitto_passwd is not installed; checking this broker alone");
}

const ACL = `topic read public/#
topic write anon/in
topic readwrite marker/#

user alice
topic read home/#
topic deny home/secret/#
topic deny +/private
topic write home/alice/#
topic readwrite marker/#

user bob
topic readwrite bob/#
topic deny bob/x
topic read sensors/+/temp
topic readwrite marker/#

user ops
topic readwrite #

user e+ve
topic read eve/#
topic readwrite marker/#

pattern readwrite clients/%c/#
pattern read users/%u/inbox
pattern read mid/x%c/y
pattern deny bob/x/%c
`;

const PASSWORDS: Record<string, string> = { alice: "apass", bob: "bpass", ops: "opass", "e+ve": "epass" };

/** A client (anonymous when `user` is empty) and what it subscribes to (readers) before the test. */
interface Actor {
  user: string;
  id: string;
  filters?: string[];
}

/** One decision: `actor` reads (receives) or writes (publishes) `topic`; `allowed` is the expectation. */
interface Case {
  actor: Actor;
  access: "read" | "write";
  topic: string;
  allowed: boolean;
  retained?: boolean;
}

const anonReader: Actor = {
  user: "",
  id: "anon1",
  filters: ["public/#", "#", "clients/+/a", "users/+/inbox"],
};
const aliceReader: Actor = {
  user: "alice",
  id: "a1",
  filters: ["home/+/data", "home/+", "sensors/#", "users/+/inbox"],
};
const aliceShared: Actor = { user: "alice", id: "a2", filters: ["$share/g/home/+/data", "$share/h/home/+"] };
const aliceRetained: Actor = { user: "alice", id: "a3", filters: ["home/#"] };
const bobReader: Actor = { user: "bob", id: "b1", filters: ["bob/#", "sensors/+/+"] };
const bobPlus: Actor = { user: "bob", id: "+", filters: ["clients/+/x", "bob/#", "users/+/inbox"] };
const bobHash: Actor = { user: "bob", id: "#", filters: ["#"] };
const bobZz: Actor = { user: "bob", id: "zz", filters: ["mid/#"] };
const eveReader: Actor = { user: "e+ve", id: "ev1", filters: ["eve/#", "clients/ev1/#"] };
const anonWriter: Actor = { user: "", id: "anon2" };
const aliceWriter: Actor = { user: "alice", id: "a4" };
const bobWriter: Actor = { user: "bob", id: "b2" };
const bobHashWriter: Actor = { user: "bob", id: "#" };
const eveWriter: Actor = { user: "e+ve", id: "ev2" };

const r = (actor: Actor, topic: string, allowed: boolean, retained = false): Case => ({
  actor,
  access: "read",
  topic,
  allowed,
  retained,
});
const w = (actor: Actor, topic: string, allowed: boolean): Case => ({
  actor,
  access: "write",
  topic,
  allowed,
});

const CASES: Case[] = [
  r(anonReader, "public/news", true),
  r(anonReader, "home/x", false),
  r(anonReader, "clients/anon1/a", true),
  r(anonReader, "users//inbox", false),
  r(aliceReader, "home/x/data", true),
  r(aliceReader, "home/secret/data", false),
  r(aliceReader, "home/private", false),
  r(aliceReader, "home/y", true),
  r(aliceReader, "sensors/k/temp", false),
  r(aliceReader, "users/alice/inbox", true),
  r(aliceReader, "users/bob/inbox", false),
  r(aliceShared, "home/z/data", true),
  r(aliceShared, "home/secret/z", false),
  r(aliceShared, "home/private", false),
  r(aliceShared, "home/w", true),
  r(aliceRetained, "home/r", true, true),
  r(aliceRetained, "home/secret/r", false, true),
  r(bobReader, "bob/x", false),
  r(bobReader, "bob/x/b1", true),
  r(bobReader, "bob/y", true),
  r(bobReader, "sensors/k/temp", true),
  r(bobReader, "sensors/k/hum", false),
  r(bobPlus, "clients/a1/x", false),
  r(bobPlus, "bob/y2", true),
  r(bobPlus, "users/bob/inbox", false),
  r(bobHash, "clients/a1/y", false),
  r(bobZz, "mid/xzz/y", true),
  r(bobZz, "mid/zz/y", false),
  r(eveReader, "eve/a", true),
  r(eveReader, "clients/ev1/a", false),
  w(anonWriter, "anon/in", true),
  w(anonWriter, "public/x", false),
  w(aliceWriter, "home/alice/lamp", true),
  w(aliceWriter, "home/bob/lamp", false),
  w(aliceWriter, "home/secret/x", false),
  w(aliceWriter, "clients/a4/status", true),
  w(aliceWriter, "clients/other/status", false),
  w(bobHashWriter, "clients/alice/cmd", false),
  w(bobWriter, "bob/x", false),
  w(bobWriter, "bob/z", true),
  w(bobWriter, "sensors/k/temp", false),
  w(eveWriter, "clients/ev2/x", false),
];

async function connect(port: number, actor: Actor): Promise<mqtt.MqttClient> {
  const options: mqtt.IClientOptions = {
    protocolVersion: 4,
    clientId: actor.id,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  };
  if (actor.user !== "") Object.assign(options, { username: actor.user, password: PASSWORDS[actor.user] });
  return await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, options);
}

/** Runs every case against the broker on `port`; returns the observed decision of each. */
async function observe(port: number): Promise<boolean[]> {
  const clients: mqtt.MqttClient[] = [];
  const seen = new Map<mqtt.MqttClient, Set<string>>();
  const open = async (actor: Actor) => {
    const c = await connect(port, actor);
    clients.push(c);
    seen.set(c, new Set());
    c.on("message", (_topic, payload) => seen.get(c)!.add(new TextDecoder().decode(payload)));
    return c;
  };
  try {
    const ops = await open({ user: "ops", id: "ops" });
    await ops.subscribeAsync("#", { qos: 1 });
    // Retained messages first, so that the readers' SUBSCRIBE is what sends them.
    for (const [i, c] of CASES.entries()) {
      if (c.retained) await ops.publishAsync(c.topic, `case:${i}`, { qos: 1, retain: true });
    }
    const actors = [...new Set(CASES.map((c) => c.actor))];
    // Markers are numbered: client ids such as "+" cannot be part of a topic name.
    const marker = (actor: Actor) => `marker/${actors.indexOf(actor)}`;
    const byActor = new Map<Actor, mqtt.MqttClient>();
    for (const actor of actors.filter((a) => a.filters !== undefined)) {
      const c = await open(actor);
      // SUBACK codes are not compared: Mosquitto grants every filter, this broker refuses those that can
      // never deliver anything (docs/security.md). What arrives is what both decide alike.
      await c.subscribeAsync([...actor.filters!, marker(actor)], { qos: 1 }).catch(() => {});
      byActor.set(actor, c);
    }
    // Reads: ops publishes each case's topic, then a marker to every reader.
    for (const [i, c] of CASES.entries()) {
      if (c.access === "read" && !c.retained) await ops.publishAsync(c.topic, `case:${i}`, { qos: 1 });
    }
    for (const [actor, c] of byActor) {
      await ops.publishAsync(marker(actor), marker(actor), { qos: 1 });
      await waitFor(`the marker of reader ${actor.id}`, () => seen.get(c)!.has(marker(actor)), 5000);
    }
    // Writes: each writer publishes its cases, then a marker ops must see.
    for (const actor of actors.filter((a) => a.filters === undefined)) {
      const c = await open(actor);
      for (const [i, k] of CASES.entries()) {
        if (k.actor === actor) await c.publishAsync(k.topic, `case:${i}`, { qos: 1 });
      }
      await c.publishAsync(marker(actor), marker(actor), { qos: 1 });
      await waitFor(`the marker of writer ${actor.id}`, () => seen.get(ops)!.has(marker(actor)), 5000);
      await c.endAsync();
    }
    return CASES.map((c, i) => {
      const observer = c.access === "read" ? byActor.get(c.actor)! : ops;
      return seen.get(observer)!.has(`case:${i}`);
    });
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
  }
}

/** The cases where `decisions` differ from what is expected, one line each. */
function differences(decisions: boolean[], expected: boolean[]): string[] {
  return CASES.flatMap((c, i) =>
    decisions[i] === expected[i]
      ? []
      : [`${c.actor.user || "(anonymous)"} / ${c.actor.id} ${c.access} ${c.topic}: ${decisions[i]}`]
  );
}

async function writeFiles(dir: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/acl`, ACL);
  const file = `${dir}/passwords`;
  if (withMosquitto) {
    for (const [i, [user, password]] of Object.entries(PASSWORDS).entries()) {
      const args = i === 0 ? ["-b", "-c", file, user, password] : ["-b", file, user, password];
      assert.equal((await run("mosquitto_passwd", args)).code, 0);
    }
  } else {
    const lines = await Promise.all(
      Object.entries(PASSWORDS).map(async ([u, p]) => `${u}:${await hashPassword(p, 1000)}\n`),
    );
    await Deno.writeTextFile(file, lines.join(""));
  }
  // Started as root, mosquitto reads its files as its own user.
  await Deno.chmod(dir, 0o755);
  for (const name of ["acl", "passwords"]) await Deno.chmod(`${dir}/${name}`, 0o644);
}

Deno.test({
  name: `the same acl_file and password file decide ${CASES.length} cases alike here and in Mosquitto`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    assert.ok(CASES.length >= 30);
    const dir = await Deno.makeTempDir({ prefix: "acl-matrix-" });
    await writeFiles(dir);
    const expected = CASES.map((c) => c.allowed);
    try {
      const ours = await startBroker({
        dir,
        yaml: `auth:\n  allow_anonymous: true\n  password_file: ${dir}/passwords\n  acl_file: ${dir}/acl\n` +
          "persistence:\n  type: memory\n",
      });
      let decisions: boolean[];
      try {
        decisions = await observe(ours.port);
      } finally {
        await ours.stop();
      }
      assert.deepEqual(differences(decisions, expected), [], "this broker against the expected decisions");
      if (!withMosquitto) return;
      const mosquitto = await startMosquitto({
        extra: [`password_file ${dir}/passwords`, `acl_file ${dir}/acl`],
      });
      let theirs: boolean[];
      try {
        theirs = await observe(mosquitto.port);
      } finally {
        await mosquitto.stop();
      }
      assert.deepEqual(
        differences(theirs, decisions),
        [],
        "Mosquitto's decisions where they differ from ours",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
