/**
 * The configuration used when no file is given: like Mosquitto 2 without a
 * config, anonymous clients on 127.0.0.1 only, with durable state in ./data/.
 *
 * @module
 */

/** The embedded default, as YAML (parsed by the same code as any file). */
export const DEFAULT_CONFIG_YAML = `# Built-in default configuration of deno-mqtt.
listeners:
  - { type: tcp, host: 127.0.0.1, port: 1883 }
  - { type: ws, host: 127.0.0.1, port: 8083, path: /mqtt }
persistence:
  type: kv
  path: ./data/broker.kv
  durability: durable
auth:
  allow_anonymous: true   # safe only because the listeners are bound to 127.0.0.1
admin:
  enabled: true           # dashboard, API and /metrics on http://127.0.0.1:18083 (local only, no token)
  host: 127.0.0.1
  port: 18083
`;
