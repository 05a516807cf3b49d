import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../src/config/load_config.ts";
import { DEFAULT_CONFIG_YAML } from "../../src/config/default_config.ts";

function problems(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(yaml, "broker.yaml", { env, checkFiles: true });
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems.map((p) => `${p.line} ${p.key}: ${p.message}`);
  }
  return [];
}

Deno.test("the built-in default parses: tcp on 127.0.0.1:1883, ws on :8083, admin on :18083, KV under ./data", () => {
  const c = parseConfig(DEFAULT_CONFIG_YAML, "default");
  assert.deepEqual(c.listeners.map((l) => [l.type, l.host, l.port]), [["tcp", "127.0.0.1", 1883], [
    "ws",
    "127.0.0.1",
    8083,
  ]]);
  assert.deepEqual([c.admin.enabled, c.admin.host, c.admin.port], [true, "127.0.0.1", 18083]);
  assert.equal(c.persistence.type, "kv");
  assert.equal(c.persistence.path, "./data/broker.kv");
  assert.equal(c.mqtt.max_qos, 2);
  assert.equal(c.limits.max_inflight, 64);
});

Deno.test("an empty file gives every default", () => {
  const c = parseConfig("", "empty.yaml");
  assert.equal(c.listeners.length, 1);
  assert.equal(c.listeners[0].port, 1883);
  assert.equal(c.log.level, "info");
});

Deno.test("unknown keys, wrong types and out-of-range values are all reported with line and key", () => {
  const found = problems(`listeners:
  - { type: tcp, host: 127.0.0.1, port: 1883 }
  - type: tcp
    port: abc
mqtt:
  max_qos: 3
  recieve_maximum: 10
persistence:
  durability: sometimes
colour: blue
`);
  assert.deepEqual(found, [
    `4 listeners[1].port: expected an integer 0..65535, got "abc"`,
    `6 mqtt.max_qos: expected an integer 0..2, got 3`,
    `7 mqtt.recieve_maximum: unknown key (did you mean "receive_maximum"?)`,
    `9 persistence.durability: expected one of durable, relaxed, got "sometimes"`,
    `10 colour: unknown key`,
  ]);
});

Deno.test("the error message names the file, the line, the key and what is expected", () => {
  assert.throws(
    () => parseConfig("limits:\n  max_inflight: 0\n", "my.yaml"),
    (err: Error) =>
      err.message.includes("my.yaml:2: limits.max_inflight: expected an integer 1..65535, got 0"),
  );
});

Deno.test("YAML syntax errors carry the line", () => {
  const found = problems("listeners:\n  - { type: tcp\nmqtt: [\n");
  assert.ok(found.length > 0);
  assert.match(found[0], /YAML syntax/);
});

Deno.test("${VAR} and ${VAR:-default} are substituted; a missing variable is a problem", () => {
  const c = parseConfig(
    "listeners:\n  - { type: tcp, host: '${HOST}', port: '${PORT:-1999}' }\n",
    "env.yaml",
    {
      env: { HOST: "0.0.0.0" },
    },
  );
  assert.equal(c.listeners[0].host, "0.0.0.0");
  assert.equal(c.listeners[0].port, 1999);
  const found = problems("auth:\n  password_file: ${NOPE}\n");
  assert.equal(
    found[0],
    "2 auth.password_file: environment variable NOPE is not set (use ${NOPE:-default} for a default)",
  );
});

Deno.test("unreadable files and tls listeners without certificates are reported", () => {
  const found = problems(`listeners:
  - { type: tls, port: 8883 }
  - { type: wss, port: 8443, cert_file: /nonexistent/cert.pem, key_file: /nonexistent/key.pem }
`);
  assert.ok(
    found.some((p) => p.startsWith("2 listeners[0]: a tls listener needs cert_file and key_file")),
    found.join("\n"),
  );
  assert.ok(
    found.some((p) => p.startsWith("3 listeners[1].cert_file: cannot read /nonexistent/cert.pem")),
    found.join("\n"),
  );
});

Deno.test("two listeners on the same address are reported", () => {
  const found = problems("listeners:\n  - { port: 1883 }\n  - { port: 1883 }\n");
  assert.deepEqual(found, ["3 listeners[1].port: 127.0.0.1:1883 is already used by listeners[0]"]);
});

Deno.test("each mistake is reported once: no follow-on clash after invalid ports, no file read after an unset variable", () => {
  assert.deepEqual(problems("listeners:\n  - { port: 99999 }\n  - { port: 99999 }\n"), [
    "2 listeners[0].port: expected an integer 0..65535, got 99999",
    "3 listeners[1].port: expected an integer 0..65535, got 99999",
  ]);
  assert.deepEqual(problems("auth:\n  password_file: ${NOPE}\n"), [
    "2 auth.password_file: environment variable NOPE is not set (use ${NOPE:-default} for a default)",
  ]);
  assert.deepEqual(
    problems("listeners:\n  - { type: tls, port: 8883, cert_file: '${CERT}', key_file: '${KEY}' }\n"),
    [
      "2 listeners[0].cert_file: environment variable CERT is not set (use ${CERT:-default} for a default)",
      "2 listeners[0].key_file: environment variable KEY is not set (use ${KEY:-default} for a default)",
    ],
    "no 'a tls listener needs cert_file and key_file' on top",
  );
});

Deno.test("no bridges key means no bridges; a bridge gets every default", () => {
  assert.deepEqual(parseConfig("", "empty.yaml").bridges, []);
  const [b] = parseConfig(
    "bridges:\n  - { name: hq, address: 'hq.example:1883', topics: [{ pattern: 'a/#' }] }\n",
    "b.yaml",
  ).bridges;
  assert.deepEqual(
    [
      b.transport,
      b.protocol,
      b.try_private,
      b.keepalive,
      b.clean_start,
      b.session_expiry,
      b.max_queued_messages,
    ],
    ["tcp", "mqttv5", true, 60, false, 86400, 10_000],
  );
  assert.deepEqual(b.topics, [{
    pattern: "a/#",
    direction: "out",
    qos: 1,
    local_prefix: "",
    remote_prefix: "",
  }]);
});

Deno.test("bridge problems are reported: name, address, topics, filters, certificate pairs, delays", () => {
  const found = problems(`bridges:
  - { name: a, address: "h:1", topics: [{ pattern: "x/#" }] }
  - { name: a, address: "no port:x", topics: [] }
  - { name: "b/c", address: "h", cert_file: /dev/null, topics: [{ pattern: "x/#/y", local_prefix: "l/" }] }
  - { address: "h", reconnect_min_ms: 5000, reconnect_max_ms: 1000, topics: [{ pattern: "x", direction: sideways }] }
`);
  assert.deepEqual(found, [
    `5 bridges[3].topics[0].direction: expected one of in, out, both, got "sideways"`,
    "5 bridges[3].name: is required",
    `3 bridges[1].name: bridge name "a" is used twice`,
    `3 bridges[1].address: expected host:port, got "no port:x"`,
    "3 bridges[1].topics: a bridge needs at least one topic rule",
    "4 bridges[2].name: use letters, digits, '.', '_' and '-' only (it becomes a topic level)",
    "4 bridges[2]: cert_file and key_file go together",
    `4 bridges[2].topics[0]: local filter "l/x/#/y": "#" must be alone in the last level: l/x/#/y`,
    `4 bridges[2].topics[0]: remote filter "x/#/y": "#" must be alone in the last level: x/#/y`,
    "5 bridges[3].reconnect_min_ms: must not exceed reconnect_max_ms",
  ]);
});

Deno.test("the cluster section is off by default and takes NATS servers, a node id and replicas", () => {
  const single = parseConfig("listeners: []\n", "single");
  assert.equal(single.cluster.nats.servers, undefined);
  const c = parseConfig(
    "cluster:\n  node_id: a\n  replicas: 3\n  nats: { servers: [nats://127.0.0.1:4222, nats://127.0.0.1:4223] }\n",
    "cluster",
  );
  assert.deepEqual(c.cluster.nats.servers, ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]);
  assert.deepEqual([c.cluster.node_id, c.cluster.replicas, c.cluster.replay_window_s], ["a", 3, 3600]);
  assert.deepEqual(problems("cluster:\n  replicas: 7\n  nats: { server: [x] }\n"), [
    "2 cluster.replicas: expected an integer 1..5, got 7",
    '3 cluster.nats.server: unknown key (did you mean "servers"?)',
  ]);
});
