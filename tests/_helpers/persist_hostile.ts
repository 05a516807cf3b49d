/**
 * Shared by the hostile-client phases on sessions and persistence
 * (tests/hostile/session_takeover_test.ts, tests/hostile/oversized_record_test.ts):
 * the health check run after every phase, users in a password file, and the
 * broker's resident memory.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { hashPassword } from "../../src/auth/password_file.ts";
import type { BrokerProcess } from "./broker_process.ts";

/** How long a well-behaved client may wait for its QoS 1 round trip after a phase. */
export const ROUND_TRIP_MS = 5_000;

/**
 * The broker process is alive and a well-behaved client (a fresh one, user `user` if
 * given) gets a QoS 1 message it publishes back through a subscription within 5 s.
 */
export async function assertHealthy(
  broker: BrokerProcess,
  phase: string,
  login: { username?: string; password?: string } = {},
): Promise<void> {
  let exited = false;
  broker.child.status.then(() => exited = true);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(exited, false, `the broker died during "${phase}":\n${broker.output().slice(-2000)}`);
  const started = Date.now();
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
    clientId: `probe-${crypto.randomUUID().slice(0, 8)}`,
    reconnectPeriod: 0,
    connectTimeout: ROUND_TRIP_MS,
    ...login,
  });
  try {
    const topic = `probe/${crypto.randomUUID()}`;
    const back = new Promise<string>((resolve) => client.on("message", (_t, p) => resolve(p.toString())));
    await client.subscribeAsync(topic, { qos: 1 });
    await client.publishAsync(topic, phase, { qos: 1 });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<string>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no QoS 1 round trip within ${ROUND_TRIP_MS} ms`)),
        ROUND_TRIP_MS,
      );
    });
    try {
      assert.equal(await Promise.race([back, late]), phase);
    } finally {
      clearTimeout(timer);
    }
    const ms = Date.now() - started;
    assert.ok(ms < ROUND_TRIP_MS, `round trip after "${phase}" took ${ms} ms`);
  } finally {
    await client.endAsync(true);
  }
}

/** Writes a password file with `<user>:<hash of "<user>-pw">` lines (cheap hashes: tests only). */
export async function writeUsers(path: string, users: string[]): Promise<void> {
  const lines = await Promise.all(users.map(async (u) => `${u}:${await hashPassword(`${u}-pw`, 1000)}`));
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
}

/** mqtt.js login options of a user written by {@link writeUsers}. */
export const login = (user: string) => ({ username: user, password: `${user}-pw` });

/** Resident memory of a process in bytes (Linux /proc). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
  return kb * 1024;
}
