/**
 * One broker configuration for both brokers: written once as data, rendered as
 * this broker's YAML and as a mosquitto.conf with the same listener options,
 * the same limits where both have them, and the same files: the ACL file is
 * literally one file loaded by both; the password file is made by
 * `mosquitto_passwd` and loaded by both when this broker reads its `$7$`
 * records, otherwise each broker gets its own file with the same users and
 * passwords.
 */
import { hashPassword, verifyPassword } from "../../src/auth/password_file.ts";
import { run } from "../_helpers/broker_process.ts";

export interface SharedConfig {
  /** Clients without a user name may connect (default true). */
  allowAnonymous?: boolean;
  /** User names and their passwords. */
  users?: Record<string, string>;
  /** An ACL file in Mosquitto's syntax, loaded by both brokers. */
  acl?: string;
  /** Highest QoS accepted (both: max_qos). */
  maxQos?: 0 | 1 | 2;
  retainAvailable?: boolean;
  /** Seconds; both brokers answer a larger (v5) keep-alive with Server Keep Alive. */
  maxKeepalive?: number;
  /**
   * Bytes, the whole packet (default 64 MiB in both: this broker's effective default, the
   * partial-packet budget limits.max_partial_packet_bytes, which its CONNACK advertises; null
   * leaves each broker its own default, see the "advertised-maximum-packet-size" difference).
   */
  maxPacketSize?: number | null;
  /** Inbound topic aliases per client (default 10, Mosquitto's default). */
  topicAliasMaximum?: number;
  /**
   * QoS 1/2 messages in flight per client, each way (default 20, Mosquitto's default): this
   * broker's limits.max_inflight and mqtt.receive_maximum, Mosquitto's max_inflight_messages.
   */
  maxInflight?: number;
  /** QoS 1/2 messages queued per client (default 1000 in both). */
  maxQueued?: number;
  /** Queue QoS 0 messages for offline sessions (default false in both). */
  queueQos0?: boolean;
}

/** Defaults where the two brokers' own defaults differ: Mosquitto's values, given to both. */
const DEFAULTS = {
  topicAliasMaximum: 10,
  maxInflight: 20,
  maxQueued: 1000,
  queueQos0: false,
  maxPacketSize: 64 * 1024 * 1024,
};

/** Files a scenario's configuration refers to, in a directory both brokers can read. */
export interface ConfigFiles {
  dir: string;
  acl?: string;
  /** The password file Mosquitto loads (made by mosquitto_passwd). */
  mosquittoPasswords?: string;
  /** The password file this broker loads (the same file when it reads `$7$` records). */
  ourPasswords?: string;
}

/** Few PBKDF2 iterations: these test users need no protection, and 100 logins should not take 10 s. */
const TEST_ITERATIONS = 1000;

let mosquittoFormatReadable: boolean | undefined;

/** Whether this broker verifies `$7$` records made by mosquitto_passwd (another change adds that). */
async function readsMosquittoPasswords(record: string, password: string): Promise<boolean> {
  mosquittoFormatReadable ??= await verifyPassword(password, record).catch(() => false);
  return mosquittoFormatReadable;
}

/** Writes the ACL and password files of `config` into a new directory readable by Mosquitto's user. */
export async function writeConfigFiles(config: SharedConfig): Promise<ConfigFiles> {
  const dir = await Deno.makeTempDir({ prefix: "differential-" });
  // Mosquitto started as root drops to user "mosquitto", which must read these files.
  await Deno.chmod(dir, 0o755);
  const files: ConfigFiles = { dir };
  if (config.acl !== undefined) {
    files.acl = `${dir}/acl`;
    await Deno.writeTextFile(files.acl, config.acl, { mode: 0o644 });
  }
  const users = Object.entries(config.users ?? {});
  if (users.length > 0) {
    files.mosquittoPasswords = `${dir}/mosquitto.passwd`;
    for (const [i, [user, password]] of users.entries()) {
      const args = i === 0
        ? ["-b", "-c", files.mosquittoPasswords, user, password]
        : ["-b", files.mosquittoPasswords, user, password];
      const r = await run("mosquitto_passwd", args);
      if (r.code !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr}`);
    }
    await Deno.chmod(files.mosquittoPasswords, 0o644);
    const [user, password] = users[0];
    const first = (await Deno.readTextFile(files.mosquittoPasswords)).split("\n")
      .find((line) => line.startsWith(`${user}:`))!.slice(user.length + 1);
    if (await readsMosquittoPasswords(first, password)) {
      files.ourPasswords = files.mosquittoPasswords;
    } else {
      files.ourPasswords = `${dir}/deno.passwd`;
      const lines = await Promise.all(
        users.map(async ([u, p]) => `${u}:${await hashPassword(p, TEST_ITERATIONS)}`),
      );
      await Deno.writeTextFile(files.ourPasswords, lines.join("\n") + "\n", { mode: 0o644 });
    }
  }
  return files;
}

/** This broker's YAML after its tcp listener (broker_process.ts writes the listener line). */
export function renderYaml(config: SharedConfig, files: ConfigFiles): string {
  const c = { ...DEFAULTS, ...config };
  // Mosquitto's max_inflight_messages is also the Receive Maximum it announces (and enforces).
  const mqtt = [`  topic_alias_maximum: ${c.topicAliasMaximum}`, `  receive_maximum: ${c.maxInflight}`];
  if (c.maxQos !== undefined) mqtt.push(`  max_qos: ${c.maxQos}`);
  if (c.retainAvailable !== undefined) mqtt.push(`  retain_available: ${c.retainAvailable}`);
  if (c.maxKeepalive !== undefined) mqtt.push(`  max_keepalive: ${c.maxKeepalive}`);
  if (c.maxPacketSize !== null) mqtt.push(`  max_packet_size: ${c.maxPacketSize}`);
  const auth = [`  allow_anonymous: ${c.allowAnonymous ?? true}`];
  if (files.ourPasswords !== undefined) auth.push(`  password_file: ${files.ourPasswords}`);
  if (files.acl !== undefined) auth.push(`  acl_file: ${files.acl}`);
  return [
    "persistence:\n  type: memory",
    `mqtt:\n${mqtt.join("\n")}`,
    `limits:\n  max_inflight: ${c.maxInflight}\n  max_queued_messages: ${c.maxQueued}\n  queue_qos0: ${c.queueQos0}`,
    `auth:\n${auth.join("\n")}`,
    "sys:\n  interval: 0",
    "log:\n  level: debug",
  ].join("\n") + "\n";
}

/**
 * The mosquitto.conf lines after its `listener` line: listener options (max_qos,
 * max_topic_alias) belong to the listener before them; the others are global.
 */
export function renderMosquittoConf(config: SharedConfig, files: ConfigFiles): string[] {
  const c = { ...DEFAULTS, ...config };
  const lines = [
    `max_topic_alias ${c.topicAliasMaximum}`,
    `max_inflight_messages ${c.maxInflight}`,
    `max_queued_messages ${c.maxQueued}`,
    `queue_qos0_messages ${c.queueQos0}`,
  ];
  if (c.maxQos !== undefined) lines.push(`max_qos ${c.maxQos}`);
  if (c.retainAvailable !== undefined) lines.push(`retain_available ${c.retainAvailable}`);
  if (c.maxKeepalive !== undefined) lines.push(`max_keepalive ${c.maxKeepalive}`);
  if (c.maxPacketSize !== null) lines.push(`max_packet_size ${c.maxPacketSize}`);
  if (files.mosquittoPasswords !== undefined) lines.push(`password_file ${files.mosquittoPasswords}`);
  if (files.acl !== undefined) lines.push(`acl_file ${files.acl}`);
  return lines;
}
