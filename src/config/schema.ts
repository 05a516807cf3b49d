/**
 * The configuration schema: one table describing every key (type, default,
 * range, meaning). The TypeScript type of a configuration is inferred from it
 * ({@link Infer}), validation walks it, the engine's option defaults are read
 * from it, and tests/config/docs_test.ts holds docs/configuration.md to it, so
 * none of them can drift apart. It imports nothing, so every layer may read it.
 *
 * A new key is one line in its section's `fields`: its kind, range or values,
 * `default` (a key without one is optional in the inferred type, unless
 * `required`) and `doc`.
 *
 * @module
 */

/**
 * How one key is checked, what it defaults to and what it means.
 *
 * @example
 * ```ts
 * import type { Field } from "../mod.ts";
 * const port: Field = { kind: "int", min: 0, max: 65535, default: 1883, doc: "Port to bind." };
 * console.log(port.kind);
 * ```
 */
export type Field =
  | { kind: "int"; min: number; max: number; default?: number; doc: string }
  | { kind: "bool"; default?: boolean; doc: string }
  | { kind: "string"; default?: string; doc: string; required?: boolean }
  | { kind: "enum"; values: readonly string[]; default?: string; doc: string }
  | { kind: "file"; doc: string; required?: boolean }
  | ObjectField
  /** `default`: the items used when the key is absent; an object item gets its fields' defaults. */
  | { kind: "list"; item: Field; doc: string; default?: readonly object[] }
  | { kind: "map"; value: Field; doc: string };

/**
 * A section: named keys, each with its own field.
 *
 * @example
 * ```ts
 * import type { ObjectField } from "../mod.ts";
 * const section: ObjectField = { kind: "object", doc: "An example section.", fields: { on: { kind: "bool", default: false, doc: "Switch." } } };
 * console.log(Object.keys(section.fields));
 * ```
 */
export interface ObjectField {
  /** Sections are objects of keys. */
  kind: "object";
  /** The section's keys, each described by its own field. */
  fields: Record<string, Field>;
  /** What the section is for. */
  doc: string;
}

const LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;

/**
 * One listener (`listeners[]`).
 *
 * @example
 * ```ts
 * import { listenerSchema } from "../mod.ts";
 * console.log(listenerSchema.fields.port.default); // 1883
 * ```
 */
export const listenerSchema = {
  kind: "object",
  doc: "One listener.",
  fields: {
    type: { kind: "enum", values: ["tcp", "tls", "ws", "wss"], doc: "Transport.", default: "tcp" },
    host: { kind: "string", default: "127.0.0.1", doc: "Address to bind." },
    port: { kind: "int", min: 0, max: 65535, doc: "Port to bind (0 = any free port).", default: 1883 },
    name: { kind: "string", doc: 'Name in logs and metrics (default "<type>:<host>:<port>").' },
    path: { kind: "string", doc: "ws/wss: the HTTP path that upgrades to MQTT.", default: "/mqtt" },
    cert_file: { kind: "file", doc: "tls/wss: PEM certificate chain." },
    key_file: { kind: "file", doc: "tls/wss: PEM private key." },
    ca_file: { kind: "file", doc: "tls/wss: PEM CA bundle to verify client certificates." },
    require_certificate: { kind: "bool", default: false, doc: "tls/wss: require a client certificate." },
    proxy_protocol: { kind: "bool", default: false, doc: "tcp: expect a PROXY protocol v1/v2 header first." },
    min_tls_version: {
      kind: "enum",
      values: ["TLSv1.2", "TLSv1.3"],
      default: "TLSv1.2",
      doc: "tls/wss: the oldest TLS version accepted.",
    },
    max_connections: {
      kind: "int",
      min: 0,
      max: 10_000_000,
      default: 0,
      doc: "Sockets open at once on this listener, counted from accept, before any handshake (0 = none).",
    },
    allow_anonymous: { kind: "bool", doc: "Overrides auth.allow_anonymous for this listener." },
  },
} as const satisfies ObjectField;

/** One topic rule of a bridge, in Mosquitto's `topic pattern direction qos local-prefix remote-prefix` shape. */
export const bridgeTopicSchema = {
  kind: "object",
  doc: "One topic rule.",
  fields: {
    pattern: {
      kind: "string",
      required: true,
      doc: 'Topic filter, matched after the prefix is stripped ("" with prefixes maps one topic).',
    },
    direction: {
      kind: "enum",
      values: ["in", "out", "both"],
      default: "out",
      doc: "out: local to remote; in: remote to local; both.",
    },
    qos: { kind: "int", min: 0, max: 2, default: 1, doc: "Highest QoS used on this rule." },
    local_prefix: { kind: "string", default: "", doc: "Local topic = local_prefix + the matched topic." },
    remote_prefix: { kind: "string", default: "", doc: "Remote topic = remote_prefix + the matched topic." },
  },
} as const satisfies ObjectField;

/** One bridge (`bridges[]`): an outbound connection to another broker and the topics it carries. */
export const bridgeSchema = {
  kind: "object",
  doc: "One bridge.",
  fields: {
    name: {
      kind: "string",
      required: true,
      doc: "Name in logs, metrics and $SYS/broker/bridges/<name>/state.",
    },
    address: {
      kind: "string",
      required: true,
      doc: "host:port of the remote broker (port defaults to 1883, 8883 for tls, 80/443 for ws/wss).",
    },
    transport: { kind: "enum", values: ["tcp", "tls", "ws", "wss"], default: "tcp", doc: "How to connect." },
    path: { kind: "string", default: "/mqtt", doc: "ws/wss: the HTTP path of the remote endpoint." },
    ca_file: { kind: "file", doc: "tls/wss: PEM CA bundle that verifies the remote certificate." },
    cert_file: { kind: "file", doc: "tls/wss: PEM client certificate (with key_file)." },
    key_file: { kind: "file", doc: "tls/wss: PEM private key of cert_file." },
    protocol: {
      kind: "enum",
      values: ["mqttv311", "mqttv5"],
      default: "mqttv5",
      doc: "Protocol level spoken to the remote broker.",
    },
    try_private: {
      kind: "bool",
      default: true,
      doc: "mqttv311: set the bridge bit (0x80) in CONNECT so the remote does not echo messages back.",
    },
    client_id: { kind: "string", doc: 'Client id on the remote broker (default "<hostname>.<name>").' },
    username: { kind: "string", doc: "User name on the remote broker." },
    password: { kind: "string", doc: "Password on the remote broker." },
    keepalive: { kind: "int", min: 0, max: 65535, default: 60, doc: "Seconds between PINGREQs (0 = none)." },
    clean_start: {
      kind: "bool",
      default: false,
      doc: "Start a new remote session on every connect (false keeps the remote session).",
    },
    session_expiry: {
      kind: "int",
      min: 0,
      max: 4294967295,
      default: 86400,
      doc: "mqttv5: seconds the remote keeps the bridge's session after a disconnect.",
    },
    max_inflight: {
      kind: "int",
      min: 1,
      max: 65535,
      default: 64,
      doc: "Unacknowledged QoS 1/2 messages per direction.",
    },
    max_queued_messages: {
      kind: "int",
      min: 0,
      max: 10_000_000,
      default: 10_000,
      doc: "QoS 1/2 messages held for the remote while it is unreachable; more are dropped.",
    },
    reconnect_min_ms: {
      kind: "int",
      min: 10,
      max: 3_600_000,
      default: 1000,
      doc: "First reconnect delay; doubles per failed attempt, with jitter.",
    },
    reconnect_max_ms: {
      kind: "int",
      min: 10,
      max: 3_600_000,
      default: 60_000,
      doc: "Longest reconnect delay.",
    },
    topics: { kind: "list", item: bridgeTopicSchema, default: [], doc: "The topic rules (at least one)." },
  },
} as const satisfies ObjectField;

/**
 * The whole configuration file, every key with its kind, range, default and meaning.
 *
 * @example
 * ```ts
 * import { configSchema } from "../mod.ts";
 * console.log(Object.keys(configSchema.fields)); // the top-level sections
 * ```
 */
export const configSchema = {
  kind: "object",
  doc: "Broker configuration.",
  fields: {
    listeners: {
      kind: "list",
      item: listenerSchema,
      default: [{}],
      doc: "Where clients connect (default: tcp 127.0.0.1:1883).",
    },
    persistence: {
      kind: "object",
      doc: "Where state is kept.",
      fields: {
        type: {
          kind: "enum",
          values: ["kv", "memory"],
          default: "kv",
          doc: "kv = Deno KV file; memory = lost on exit.",
        },
        path: { kind: "string", default: "./data/broker.kv", doc: "Deno KV file (kv only)." },
        durability: {
          kind: "enum",
          values: ["durable", "relaxed"],
          default: "durable",
          doc:
            "durable: acknowledge after the commit; relaxed: acknowledge at once, commit within the window.",
        },
        commit_window_ms: {
          kind: "int",
          min: 0,
          max: 1000,
          default: 0,
          doc:
            "Extra wait (ms) for a group commit to fill; 0 writes at the end of each turn, grouping while a write is in flight.",
        },
      },
    },
    mqtt: {
      kind: "object",
      doc: "Protocol features advertised in CONNACK and enforced.",
      fields: {
        max_keepalive: {
          kind: "int",
          min: 1,
          max: 65535,
          default: 65535,
          doc: "Seconds; larger (or 0) requests get this.",
        },
        receive_maximum: {
          kind: "int",
          min: 1,
          max: 65535,
          default: 65535,
          doc: "Unacknowledged QoS 1/2 per client inbound.",
        },
        topic_alias_maximum: {
          kind: "int",
          min: 0,
          max: 65535,
          default: 64,
          doc: "Inbound topic aliases per client.",
        },
        max_packet_size: {
          kind: "int",
          min: 64,
          max: 268_435_460,
          default: 268_435_460,
          doc:
            "Bytes, whole packet; the maximum in force is the smaller of this and limits.max_partial_packet_bytes.",
        },
        max_qos: { kind: "int", min: 0, max: 2, default: 2, doc: "Highest QoS accepted." },
        retain_available: { kind: "bool", default: true, doc: "Whether retained messages are supported." },
        wildcard_subscriptions: { kind: "bool", default: true, doc: "Whether + and # are allowed." },
        shared_subscriptions: { kind: "bool", default: true, doc: "Whether $share/... is allowed." },
        subscription_identifiers: {
          kind: "bool",
          default: true,
          doc: "Whether subscription identifiers are supported.",
        },
        shared_subscription_strategy: {
          kind: "enum",
          values: ["round_robin", "random", "sticky"],
          default: "round_robin",
          doc: "How a share group's messages are spread.",
        },
      },
    },
    limits: {
      kind: "object",
      doc: "Limits against abuse; all bounded by default.",
      fields: {
        max_connections: {
          kind: "int",
          min: 0,
          max: 10_000_000,
          default: 10_000,
          doc:
            "Sockets open at once on all listeners, counted from accept, before any handshake (0 = unlimited).",
        },
        connect_timeout_ms: {
          kind: "int",
          min: 100,
          max: 3_600_000,
          default: 10_000,
          doc:
            "Time for the handshake (TLS, HTTP upgrade, PROXY header) from accept, then again for CONNECT.",
        },
        max_inflight: {
          kind: "int",
          min: 1,
          max: 65535,
          default: 64,
          doc: "Outbound QoS 1/2 in flight per client.",
        },
        max_queued_messages: {
          kind: "int",
          min: 0,
          max: 10_000_000,
          default: 1000,
          doc: "Queued per client.",
        },
        max_queued_bytes: {
          kind: "int",
          min: 0,
          max: 2 ** 40,
          default: 16_777_216,
          doc: "Queued bytes per client (payloads and their properties).",
        },
        queue_qos0: { kind: "bool", default: false, doc: "Queue QoS 0 for offline persistent sessions." },
        max_subscriptions: {
          kind: "int",
          min: 0,
          max: 10_000_000,
          default: 1000,
          doc: "Per client (0 = unlimited).",
        },
        max_topic_length: {
          kind: "int",
          min: 1,
          max: 65535,
          default: 65535,
          doc: "Bytes of a topic or filter.",
        },
        max_topic_levels: {
          kind: "int",
          min: 1,
          max: 65535,
          default: 128,
          doc: "Levels of a topic or filter.",
        },
        message_rate: {
          kind: "int",
          min: 0,
          max: 10_000_000,
          default: 0,
          doc: "Inbound PUBLISH/s per client (0 = none).",
        },
        max_outbound_buffer: {
          kind: "int",
          min: 1024,
          max: 2 ** 32,
          default: 4_194_304,
          doc: "Bytes queued to a slow client before QoS 0 to it is dropped.",
        },
        pace_publishers_at: {
          kind: "int",
          min: 0,
          max: 10_000_000,
          default: 256,
          doc:
            "A publisher whose messages queued more than this many for a connected subscriber (beyond its in-flight window) reads on once that queue is half as long, or after 50 ms; 0 = never waits.",
        },
        max_connect_size: {
          kind: "int",
          min: 64,
          max: 268_435_460,
          default: 65_536,
          doc: "Bytes of the first packet (CONNECT); larger ones are refused from their header.",
        },
        max_partial_packet_bytes: {
          kind: "int",
          min: 1024,
          max: 2 ** 40,
          default: 67_108_864,
          doc: "Bytes all connections together may hold in packets still arriving; also caps one packet.",
        },
        max_user_properties: {
          kind: "int",
          min: 0,
          max: 268_435_455,
          default: 128,
          doc:
            "v5 User Properties in one property block; more: PUBACK/PUBREC 0x97, other packets DISCONNECT 0x97.",
        },
        max_property_bytes: {
          kind: "int",
          min: 0,
          max: 268_435_455,
          default: 65_536,
          doc: "Bytes of one v5 property block; over it: refused with 0x97.",
        },
      },
    },
    auth: {
      kind: "object",
      doc: "Authentication and authorisation.",
      fields: {
        allow_anonymous: { kind: "bool", default: true, doc: "Clients without a user name may connect." },
        password_file: {
          kind: "file",
          doc: "Password file (deno task passwd, or one made by mosquitto_passwd).",
        },
        acl_file: { kind: "file", doc: "ACL file in Mosquitto's acl_file syntax." },
        foreign_session: {
          kind: "enum",
          values: ["refuse", "discard"],
          default: "refuse",
          doc:
            "A CONNECT whose client id names another user's offline session: refuse it (0x85 / 3.1.1 code 2) or discard that session for a fresh one. Never handed over; an online one is always refused.",
        },
      },
    },
    log: {
      kind: "object",
      doc: "Logging.",
      fields: {
        level: { kind: "enum", values: LEVELS, default: "info", doc: "Lowest level logged." },
        format: {
          kind: "enum",
          values: ["text", "json"],
          default: "text",
          doc: "text for people, json for machines.",
        },
        categories: {
          kind: "map",
          value: { kind: "enum", values: LEVELS, doc: "Level for this category." },
          doc: 'Per-category levels, e.g. { "mqtt.transport": debug }.',
        },
        payloads: { kind: "bool", default: false, doc: "Include payload previews in debug logs." },
      },
    },
    sys: {
      kind: "object",
      doc: "$SYS topics.",
      fields: {
        interval: { kind: "int", min: 0, max: 86400, default: 10, doc: "Seconds between updates (0 = off)." },
      },
    },
    bridges: {
      kind: "list",
      item: bridgeSchema,
      default: [],
      doc: "Connections to other MQTT brokers (see docs/bridges.md).",
    },
    cluster: {
      kind: "object",
      doc:
        "Run as one node of a cluster on NATS JetStream (docs/cluster.md); off unless nats.servers is set.",
      fields: {
        node_id: {
          kind: "string",
          doc: "This node's name, unique in the cluster and stable across restarts (default: the host name).",
        },
        nats: {
          kind: "object",
          doc: "The NATS servers the nodes share.",
          fields: {
            servers: {
              kind: "list",
              item: { kind: "string", doc: "A NATS URL, e.g. nats://127.0.0.1:4222." },
              doc:
                "NATS URLs; setting them turns cluster mode on (sessions and retained messages then live in JetStream, not in persistence).",
            },
            credentials: { kind: "file", doc: "A NATS .creds file (user JWT and NKey seed)." },
          },
        },
        replicas: {
          kind: "int",
          min: 1,
          max: 5,
          default: 1,
          doc: "JetStream replicas of the message stream and the KV buckets (3 for a 3-server NATS cluster).",
        },
        replay_window_s: {
          kind: "int",
          min: 10,
          max: 30 * 86400,
          default: 3600,
          doc: "Seconds the stream keeps QoS 1/2 messages to catch up sessions whose node failed.",
        },
      },
    },
    admin: {
      kind: "object",
      doc: "Admin HTTP listener.",
      fields: {
        enabled: { kind: "bool", default: false, doc: "Serve the admin HTTP API." },
        host: { kind: "string", default: "127.0.0.1", doc: "Address to bind." },
        port: { kind: "int", min: 0, max: 65535, default: 18083, doc: "Port to bind." },
        token: { kind: "string", doc: "Bearer token required by the API, /metrics and the dashboard data." },
        username: {
          kind: "string",
          doc: "User name for HTTP basic auth (with password), instead of or beside a token.",
        },
        password: { kind: "string", doc: "Password for HTTP basic auth." },
        cert_file: {
          kind: "file",
          doc: "PEM certificate: serve the admin listener over HTTPS (with key_file).",
        },
        key_file: { kind: "file", doc: "PEM private key for cert_file." },
        allow_remote_without_auth: {
          kind: "bool",
          default: false,
          doc: "Serve without token or username on an address beyond loopback (refused otherwise).",
        },
      },
    },
  },
} as const satisfies ObjectField;

/**
 * The value a field describes once validated and completed with defaults. A QoS range
 * (0..2) stays a union of its three values; other integers are numbers.
 *
 * @example
 * ```ts
 * import { type Infer, listenerSchema } from "../mod.ts";
 * type Listener = Infer<typeof listenerSchema>;
 * const listener: Partial<Listener> = { type: "tcp", port: 1883 };
 * console.log(listener.port);
 * ```
 */
export type Infer<F extends Field> = F extends { kind: "int" }
  ? F extends { min: 0; max: 2 } ? 0 | 1 | 2 : number
  : F extends { kind: "bool" } ? boolean
  : F extends { kind: "string" | "file" } ? string
  : F extends { kind: "enum"; values: readonly (infer V)[] } ? V
  : F extends { kind: "list"; item: infer I extends Field } ? Infer<I>[]
  : F extends { kind: "map"; value: infer V extends Field } ? Record<string, Infer<V>>
  : F extends { kind: "object"; fields: infer S extends ObjectField["fields"] } ? InferSection<S>
  : never;

/**
 * The object a section's fields describe: a key with a `default`, a `required` key, a
 * section or a map is always present; any other key is optional.
 *
 * @example
 * ```ts
 * import type { InferSection } from "../mod.ts";
 * const fields = { on: { kind: "bool", default: false, doc: "Switch." }, name: { kind: "string", doc: "Name." } } as const;
 * const section: InferSection<typeof fields> = { on: true }; // name is optional: no default
 * console.log(section.on);
 * ```
 */
export type InferSection<S extends ObjectField["fields"]> =
  & {
    -readonly [
      K in keyof S as S[K] extends { default: unknown } | { required: true } | { kind: "object" | "map" } ? K
        : never
    ]: Infer<S[K]>;
  }
  & {
    -readonly [
      K in keyof S as S[K] extends { default: unknown } | { required: true } | { kind: "object" | "map" }
        ? never
        : K
    ]?: Infer<S[K]>;
  };

/**
 * The validated configuration with every default filled in.
 *
 * @example
 * ```ts
 * import type { BrokerConfig } from "../mod.ts";
 * const persistence = (config: BrokerConfig) => config.persistence.type;
 * console.log(typeof persistence);
 * ```
 */
export type BrokerConfig = Infer<typeof configSchema>;
/**
 * One validated listener (`listeners[]`).
 *
 * @example
 * ```ts
 * import type { ListenerConfig } from "../mod.ts";
 * const address = (l: ListenerConfig) => `${l.type}://${l.host}:${l.port}`;
 * console.log(typeof address);
 * ```
 */
export type ListenerConfig = Infer<typeof listenerSchema>;
/** One validated bridge (`bridges[]`). */
export type BridgeConfig = Infer<typeof bridgeSchema>;
/** One validated topic rule of a bridge (`bridges[].topics[]`). */
export type BridgeTopicConfig = Infer<typeof bridgeTopicSchema>;
/**
 * A log level name, as `log.level` and `log.categories` take them.
 *
 * @example
 * ```ts
 * import type { LogLevelName } from "../mod.ts";
 * const level: LogLevelName = "debug";
 * console.log(level);
 * ```
 */
export type LogLevelName = BrokerConfig["log"]["level"];

/**
 * The value of a field when its key is absent: its `default`, a section's keys that have
 * one, an empty map, a list's default items (each completed with its item's defaults), or
 * `undefined`.
 */
export function defaultOf(field: Field): unknown {
  switch (field.kind) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [name, spec] of Object.entries(field.fields)) {
        const value = defaultOf(spec);
        if (value !== undefined) out[name] = value;
      }
      return out;
    }
    case "map":
      return {};
    case "list": {
      if (field.default === undefined) return undefined;
      const itemDefaults = defaultOf(field.item);
      return field.default.map((item) =>
        typeof itemDefaults === "object" ? { ...itemDefaults, ...item } : structuredClone(item)
      );
    }
    case "file":
      return undefined;
    default:
      return field.default;
  }
}

/**
 * Every default of a section whose keys are all optional or defaulted (the whole file, a
 * listener, `mqtt`, `limits`): what an empty YAML file yields.
 */
export function defaultsOf<F extends ObjectField>(section: F): Infer<F> {
  // Built by walking F itself: each key with a default gets a value of its own field's type.
  return defaultOf(section) as Infer<F>;
}
