/** One configuration, two brokers: the rendered YAML is valid for this broker and says what the mosquitto.conf says. */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load_config.ts";
import { renderMosquittoConf, renderYaml } from "./broker_config.ts";

const files = {
  dir: "/tmp/x",
  acl: "/tmp/x/acl",
  ourPasswords: "/tmp/x/deno.passwd",
  mosquittoPasswords: "/tmp/x/m.passwd",
};

Deno.test("the rendered YAML is a valid configuration with Mosquitto's defaults where the brokers' differ", () => {
  const yaml = "listeners:\n  - { type: tcp, host: 127.0.0.1, port: 1883 }\n" +
    renderYaml({ maxQos: 1, maxKeepalive: 30, maxPacketSize: 500, allowAnonymous: false }, files);
  const config = parseConfig(yaml, "differential.yaml", { checkFiles: false, env: {} });
  assert.equal(config.mqtt.topic_alias_maximum, 10);
  assert.equal(config.mqtt.receive_maximum, 20);
  assert.equal(config.limits.max_inflight, 20);
  assert.equal(config.limits.max_queued_messages, 1000);
  assert.equal(config.limits.queue_qos0, false);
  assert.deepEqual([config.mqtt.max_qos, config.mqtt.max_keepalive, config.mqtt.max_packet_size], [
    1,
    30,
    500,
  ]);
  assert.equal(config.auth.allow_anonymous, false);
  assert.equal(config.auth.acl_file, files.acl);
  assert.equal(config.auth.password_file, files.ourPasswords);
});

Deno.test("the mosquitto.conf lines carry the same limits and files", () => {
  const lines = renderMosquittoConf(
    { maxQos: 1, maxKeepalive: 30, maxPacketSize: 500, queueQos0: true },
    files,
  );
  for (
    const expected of [
      "max_topic_alias 10",
      "max_inflight_messages 20",
      "max_queued_messages 1000",
      "queue_qos0_messages true",
      "max_qos 1",
      "max_keepalive 30",
      "max_packet_size 500",
      `password_file ${files.mosquittoPasswords}`,
      `acl_file ${files.acl}`,
    ]
  ) assert.ok(lines.includes(expected), `${expected} in ${lines.join(" | ")}`);
});
