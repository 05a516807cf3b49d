/** The engine's defaults are the configuration schema's: embedding and a config file agree. */
import assert from "node:assert/strict";
import { Engine } from "../../src/broker/broker.ts";
import {
  defaultLimitOptions,
  defaultMqttOptions,
  limitOptions,
  mqttOptions,
} from "../../src/broker/options.ts";
import { parseConfig } from "../../src/config/load_config.ts";

const empty = parseConfig("", "empty.yaml", { checkFiles: false, env: {} });

Deno.test("a broker embedded without options has the limits of an empty configuration file", () => {
  const broker = new Engine();
  assert.deepEqual(broker.limits, limitOptions(empty.limits));
  assert.deepEqual(defaultLimitOptions, limitOptions(empty.limits));
});

Deno.test("a broker embedded without options advertises the protocol features of an empty configuration file", () => {
  const broker = new Engine();
  // The engine caps the packet size at the receive budget in both cases.
  const expected = { ...mqttOptions(empty.mqtt), maxPacketSize: broker.limits.maxPartialPacketBytes };
  assert.deepEqual(broker.mqtt, expected);
  assert.equal(
    defaultMqttOptions.maxPacketSize,
    empty.mqtt.max_packet_size,
    "the shared defaults are not changed",
  );
});

Deno.test("options an embedder sets replace only those defaults", () => {
  const broker = new Engine({ limits: { maxInflight: 5 }, mqtt: { maxQoS: 1 } });
  assert.deepEqual(broker.limits, { ...limitOptions(empty.limits), maxInflight: 5 });
  assert.equal(broker.mqtt.maxQoS, 1);
  assert.equal(broker.mqtt.receiveMaximum, empty.mqtt.receive_maximum);
});
