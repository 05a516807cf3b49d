/**
 * MQTT 5 features: topic aliases both ways, subscription identifiers, No Local,
 * shared subscriptions, properties passed on, Receive Maximum flow control,
 * maximum packet size, keep-alive, maximum QoS.
 */
import {
  ack,
  connect,
  connect4,
  publish,
  type Scenario,
  scenario,
  subscribe,
  unsubscribe,
  wait,
} from "../scenario.ts";

const pub = connect("pub", { clientId: "publisher" });
const alias = (n: number) => ({ topicAlias: n });

export const V5_SCENARIOS: Scenario[] = [
  scenario("a client sets a topic alias and then publishes with the alias alone", [
    connect("a"),
    subscribe("a", "alias/#", 1),
    pub,
    publish("pub", "alias/long/topic", "with topic", { qos: 1, properties: alias(1) }),
    publish("pub", "", "alias only", { qos: 1, properties: alias(1) }),
    publish("pub", "alias/other", "remapped", { qos: 1, properties: alias(1) }),
    publish("pub", "", "alias again", { qos: 1, properties: alias(1) }),
  ]),
  scenario("a topic alias above the broker's Topic Alias Maximum is a protocol error (0x94)", [
    pub,
    publish("pub", "alias/x", "too high", { qos: 1, properties: alias(11), noWait: true }),
  ]),
  scenario("topic alias 0 is a protocol error (0x94)", [
    pub,
    publish("pub", "alias/x", "zero", { qos: 0, properties: alias(0) }),
  ], { expectDifference: [{ id: "topic-alias-zero-reason", clients: ["pub"] }] }),
  scenario("an alias alone that was never set is a protocol error", [
    pub,
    publish("pub", "", "unknown alias", { qos: 0, properties: alias(3) }),
  ]),
  scenario("topic aliases towards a client that allows them resolve to the right topics", [
    connect("a", { properties: { topicAliasMaximum: 2 } }),
    subscribe("a", "alias/#", 0),
    pub,
    ...["alias/a", "alias/b", "alias/a", "alias/c", "alias/b", "alias/a"].map((t, i) =>
      publish("pub", t, `m${i}`)
    ),
  ]),
  scenario("a Subscription Identifier comes with every matching message", [
    connect("a"),
    subscribe("a", "id/#", 1, { id: 7 }),
    pub,
    publish("pub", "id/x", "tagged", { qos: 1 }),
  ]),
  scenario("overlapping subscriptions with identifiers", [
    connect("a"),
    subscribe("a", "id/#", 1, { id: 1 }),
    subscribe("a", "id/+", 1, { id: 2 }),
    subscribe("a", "id/x", 1),
    pub,
    publish("pub", "id/x", "all three", { qos: 1 }),
    publish("pub", "id/y", "two", { qos: 1 }),
  ], { expectDifference: [{ id: "overlap-one-copy", clients: ["a"] }] }),
  scenario("a Subscription Identifier comes with retained messages sent on subscribe", [
    pub,
    publish("pub", "id/r", "retained", { qos: 1, retain: true }),
    connect("a"),
    subscribe("a", "id/#", 1, { id: 268_435_455 }),
  ]),
  scenario("subscribing again without an identifier removes it", [
    connect("a"),
    subscribe("a", "id/x", 1, { id: 5 }),
    subscribe("a", "id/x", 1),
    pub,
    publish("pub", "id/x", "untagged", { qos: 1 }),
  ]),
  scenario("No Local: a client does not get its own messages back", [
    connect("a"),
    subscribe("a", "nl/#", 1, { noLocal: true }),
    connect("b"),
    subscribe("b", "nl/#", 1),
    publish("a", "nl/1", "from a", { qos: 1 }),
    publish("b", "nl/1", "from b", { qos: 1 }),
  ]),
  scenario("No Local on a shared subscription is a protocol error", [
    connect("a"),
    subscribe("a", "$share/g/nl/#", 1, { noLocal: true }),
  ], { expectDifference: [{ id: "no-local-shared", clients: ["a"] }] }),
  scenario("a shared subscription with one member gets every message", [
    connect("a"),
    subscribe("a", "$share/g/sh/#", 1),
    pub,
    publish("pub", "sh/1", "one", { qos: 1 }),
    publish("pub", "sh/2", "two", { qos: 1 }),
  ]),
  scenario("two share groups each get a copy, and so does a plain subscription", [
    connect("g1"),
    subscribe("g1", "$share/one/sh/#", 1),
    connect("g2"),
    subscribe("g2", "$share/two/sh/#", 2),
    connect("plain"),
    subscribe("plain", "sh/#", 0),
    pub,
    publish("pub", "sh/x", "to all", { qos: 2 }),
  ]),
  scenario("a group's messages are spread over its members, each message to one of them", [
    connect("m1"),
    subscribe("m1", "$share/g/sh/#", 1),
    connect("m2"),
    subscribe("m2", "$share/g/sh/#", 1),
    pub,
    ...[1, 2, 3, 4, 5, 6].map((i) => publish("pub", "sh/n", `m${i}`, { qos: 1 })),
  ], { pools: { group: ["m1", "m2"] } }),
  scenario("retained messages are not sent for a shared subscription", [
    pub,
    publish("pub", "sh/r", "retained", { qos: 1, retain: true }),
    connect("a"),
    subscribe("a", "$share/g/sh/#", 1),
    unsubscribe("a", "$share/g/sh/#"),
  ], { expectDifference: [{ id: "shared-no-retained", clients: ["a"] }] }),
  scenario("a shared subscription from a 3.1.1 client", [
    connect4("a"),
    subscribe("a", "$share/g/sh/#", 1),
    connect4("pub", { clientId: "publisher" }),
    publish("pub", "sh/1", "shared", { qos: 1 }),
  ]),
  scenario("invalid shared subscription filters", [
    connect("a"),
    subscribe("a", [{ filter: "$share/g", qos: 0 }, { filter: "$share//t", qos: 0 }, {
      filter: "$share/g+/t",
      qos: 0,
    }]),
  ], { expectDifference: [{ id: "invalid-filter-suback", clients: ["a"] }] }),
  scenario("message properties are passed on unchanged", [
    connect("a"),
    subscribe("a", "p/#", 1),
    pub,
    publish("pub", "p/1", "payload", {
      qos: 1,
      properties: {
        payloadFormatIndicator: 1,
        contentType: "text/plain",
        responseTopic: "p/reply",
        correlationData: new TextEncoder().encode("id-42"),
        userProperties: [["b", "2"], ["a", "1"], ["a", "0"]],
        messageExpiryInterval: 300,
      },
    }),
  ]),
  scenario("a 3.1.1 subscriber gets a v5 message without its properties", [
    connect4("a"),
    subscribe("a", "p/#", 1),
    pub,
    publish("pub", "p/1", "v5 message", { qos: 1, properties: { userProperties: [["k", "v"]] } }),
  ]),
  scenario("an invalid UTF-8 payload with Payload Format Indicator 1", [
    connect("a"),
    subscribe("a", "p/#", 0),
    pub,
    publish("pub", "p/1", "\ud800", { qos: 1, properties: { payloadFormatIndicator: 1 } }),
  ]),
  scenario("Receive Maximum 2: the broker sends two QoS 1 messages, then one per acknowledgement", [
    connect("a", { autoAck: false, properties: { receiveMaximum: 2 } }),
    subscribe("a", "fc/#", 1),
    pub,
    ...[1, 2, 3, 4, 5].map((i) => publish("pub", "fc/n", `m${i}`, { qos: 1 })),
    ack("a"),
    ack("a"),
    ack("a"),
  ], { expectDifference: [{ id: "client-receive-maximum", clients: ["a"] }] }),
  scenario("Receive Maximum 1 in 3 rounds: one message in flight at a time", [
    connect("a", { autoAck: false, properties: { receiveMaximum: 1 } }),
    subscribe("a", "fc/#", 2),
    pub,
    ...[1, 2, 3].map((i) => publish("pub", "fc/n", `m${i}`, { qos: 2 })),
    ack("a"),
    ack("a"),
    ack("a"),
  ]),
  scenario("the broker's Receive Maximum: one QoS 2 PUBLISH too many is refused with 0x93", [
    pub,
    ...Array.from({ length: 21 }, (_, i) => publish("pub", "fc/in", `m${i}`, { qos: 2, noPubrel: true })),
  ], {
    expectDifference: [
      { id: "receive-maximum-exceeded", clients: ["pub"] },
      { id: "pubrec-no-subscribers", clients: ["pub"] },
    ],
  }),
  scenario("the broker's Receive Maximum counts unacknowledged QoS 2 only: completed ones free the window", [
    connect("a"),
    subscribe("a", "fc/#", 2),
    pub,
    ...Array.from({ length: 25 }, (_, i) => publish("pub", "fc/in", `m${i}`, { qos: 2 })),
  ]),
  scenario("a message larger than the client's Maximum Packet Size is not sent to it", [
    connect("small", { properties: { maximumPacketSize: 64 } }),
    subscribe("small", "mp/#", 1),
    connect("big"),
    subscribe("big", "mp/#", 1),
    pub,
    publish("pub", "mp/1", "x".repeat(100), { qos: 1 }),
    publish("pub", "mp/2", "fits", { qos: 1 }),
  ]),
  scenario("a packet larger than the broker's max_packet_size closes the connection (0x95)", [
    connect("a"),
    subscribe("a", "mp/#", 1),
    pub,
    publish("pub", "mp/1", "x".repeat(300), { qos: 1, noWait: true }),
  ], { config: { maxPacketSize: 200 } }),
  scenario("stock maximum packet size: this broker advertises the most it will receive, Mosquitto nothing", [
    connect("a"),
  ], {
    config: { maxPacketSize: null },
    expectDifference: [{ id: "advertised-maximum-packet-size", clients: ["a"] }],
  }),
  scenario("keep-alive: a silent v5 client is disconnected after 1.5 × its keep-alive", [
    connect("a", { keepAlive: 1, silent: true }),
    wait(3200),
  ], {
    expectDifference: [
      { id: "keepalive-late", clients: ["a"] },
      { id: "keepalive-disconnect-reason", clients: ["a"] },
    ],
  }),
  scenario("keep-alive: a silent 3.1.1 client is disconnected after 1.5 × its keep-alive", [
    connect4("a", { keepAlive: 1, silent: true }),
    wait(3200),
  ], { expectDifference: [{ id: "keepalive-late", clients: ["a"] }] }),
  scenario("keep-alive: a silent 3.1.1 client is disconnected in the end by both", [
    connect4("a", { keepAlive: 1, silent: true }),
    wait(7000),
  ]),
  scenario("keep-alive: a silent v5 client is disconnected in the end by both", [
    connect("a", { keepAlive: 2, silent: true }),
    wait(7000),
  ], { expectDifference: [{ id: "keepalive-disconnect-reason", clients: ["a"] }] }),
  scenario("keep-alive: a client that keeps talking stays connected", [
    connect("a", { keepAlive: 1 }),
    wait(700),
    subscribe("a", "ka/1", 0),
    wait(700),
    publish("a", "ka/1", "still here"),
    wait(700),
    publish("a", "ka/1", "and here"),
  ]),
  scenario("max_keepalive: a longer keep-alive is lowered with Server Keep Alive", [
    connect("a", { keepAlive: 120 }),
    connect("b", { keepAlive: 10 }),
  ], { config: { maxKeepalive: 60 } }),
  scenario("keep-alive 0 asks for no keep-alive", [
    connect("a", { keepAlive: 0 }),
  ], { expectDifference: [{ id: "server-keepalive-for-zero", clients: ["a"] }] }),
  scenario("keep-alive 0 under a lower max_keepalive gets Server Keep Alive", [
    connect("a", { keepAlive: 0 }),
  ], { config: { maxKeepalive: 30 } }),
  scenario("max_qos 1: announced in CONNACK, subscriptions granted QoS 1, QoS 2 publishes refused", [
    connect("a"),
    subscribe("a", "mq/#", 2),
    connect4("b"),
    subscribe("b", "mq/#", 2),
    pub,
    publish("pub", "mq/1", "qos1", { qos: 1 }),
    publish("pub", "mq/2", "qos2", { qos: 2, noWait: true }),
  ], { config: { maxQos: 1 } }),
  scenario("a client asking for no problem information still gets every reason code", [
    connect("a", { properties: { requestProblemInformation: 0 } }),
    publish("a", "nobody/1", "alone", { qos: 1 }),
    publish("a", "bad/#", "wildcard", { qos: 1 }),
  ], { expectDifference: [{ id: "wildcard-topic-name-reason", clients: ["a"] }] }),
  scenario("a PUBLISH with no matching subscribers gets PUBACK / PUBREC 0x10", [
    pub,
    publish("pub", "nobody/1", "alone", { qos: 1 }),
    publish("pub", "nobody/2", "alone", { qos: 2 }),
  ], { expectDifference: [{ id: "pubrec-no-subscribers", clients: ["pub"] }] }),
  scenario("topic aliases work for QoS 2 publishes", [
    connect("a"),
    subscribe("a", "alias/#", 2),
    pub,
    publish("pub", "alias/q2", "first", { qos: 2, properties: alias(2) }),
    publish("pub", "", "second", { qos: 2, properties: alias(2) }),
  ]),
  scenario("unsubscribing from a share group stops its deliveries", [
    connect("a"),
    subscribe("a", "$share/g/sh/#", 1),
    unsubscribe("a", "$share/g/sh/#", "$share/other/sh/#"),
    pub,
    publish("pub", "sh/1", "nobody", { qos: 1 }),
  ]),
  scenario("a queued message's Message Expiry counts down while it waits", [
    connect("a", { expiry: 60 }),
    subscribe("a", "e/#", 1),
    { do: "disconnect", client: "a" },
    pub,
    publish("pub", "e/1", "waiting", { qos: 1, properties: { messageExpiryInterval: 40 } }),
    wait(1100),
    connect("a", { clean: false, expiry: 60 }),
  ]),
];

export const PACKET_SIZE_SCENARIOS: Scenario[] = [
  scenario("a client whose Maximum Packet Size is smaller than a CONNACK with properties", [
    connect("tiny", { properties: { maximumPacketSize: 8 } }),
    subscribe("tiny", "t/1", 1),
  ]),
  scenario("a Maximum Packet Size that fits the CONNACK and SUBACK but not a message", [
    connect("small", { properties: { maximumPacketSize: 40 } }),
    subscribe("small", "t/#", 1),
    pub,
    publish("pub", "t/1", "short", { qos: 1 }),
    publish("pub", "t/2", "a payload that does not fit in forty bytes", { qos: 1 }),
    publish("pub", "t/3", "short again", { qos: 1 }),
  ]),
];
