/** Packets a well-behaved client never sends, and acknowledgements for packets that do not exist. */
import { PacketType } from "../../../src/protocol/packet.ts";
import {
  connect,
  connect4,
  publish,
  type Scenario,
  scenario,
  send,
  sendBytes,
  subscribe,
} from "../scenario.ts";

export const PROTOCOL_ERROR_SCENARIOS: Scenario[] = [
  scenario("a second CONNECT on a connection is a protocol error", [
    connect("a", { will: { topic: "w/a", payload: "gone" } }),
    connect("watch"),
    subscribe("watch", "w/#", 0),
    send("a", {
      type: PacketType.CONNECT,
      protocolName: "MQTT",
      protocolLevel: 5,
      clean: true,
      keepAlive: 60,
      clientId: "a",
    }),
  ], {
    expectDifference: [{ id: "protocol-error-disconnect", clients: ["a"] }, {
      id: "second-connect-will",
      clients: ["watch"],
    }],
  }),
  scenario("3.1.1: a second CONNECT closes the connection and publishes the will", [
    connect4("a", { will: { topic: "w/a", payload: "gone" } }),
    connect4("watch"),
    subscribe("watch", "w/#", 0),
    send("a", {
      type: PacketType.CONNECT,
      protocolName: "MQTT",
      protocolLevel: 4,
      clean: true,
      keepAlive: 60,
      clientId: "a",
    }),
  ], { expectDifference: [{ id: "second-connect-will", clients: ["watch"] }] }),
  scenario("a client may not send a Subscription Identifier in PUBLISH", [
    connect("a"),
    publish("a", "t/1", "with an id", { qos: 1, properties: { subscriptionIdentifiers: [3] }, noWait: true }),
  ], { expectDifference: [{ id: "client-subscription-identifier", clients: ["a"] }] }),
  scenario("PUBREL for a packet id that is not in flight gets PUBCOMP 0x92", [
    connect("a"),
    send("a", { type: PacketType.PUBREL, packetId: 77, reasonCode: 0 }),
    publish("a", "t/1", "still connected", { qos: 1 }),
  ], { expectDifference: [{ id: "pubcomp-unknown-id", clients: ["a"] }] }),
  scenario("a PUBACK for a packet id the broker never sent is ignored", [
    connect("a"),
    send("a", { type: PacketType.PUBACK, packetId: 99, reasonCode: 0 }),
    subscribe("a", "t/1", 1),
    publish("a", "t/1", "still connected", { qos: 1 }),
  ]),
  scenario("a PUBLISH with QoS 3 is malformed; the will is published", [
    connect("watch"),
    subscribe("watch", "w/#", 0),
    connect("a", { will: { topic: "w/a", payload: "gone" } }),
    // PUBLISH, flags 0110 (QoS 3), remaining length 5, topic "t/1", no payload.
    sendBytes("a", [0x36, 0x06, 0x00, 0x03, 0x74, 0x2f, 0x31, 0x00]),
  ]),
  scenario("3.1.1: a PUBLISH with QoS 3 closes the connection; the will is published", [
    connect4("watch"),
    subscribe("watch", "w/#", 0),
    connect4("a", { will: { topic: "w/a", payload: "gone" } }),
    sendBytes("a", [0x36, 0x05, 0x00, 0x03, 0x74, 0x2f, 0x31]),
  ]),
  scenario("a SUBSCRIBE with flags other than 0010 is malformed", [
    connect("a"),
    // SUBSCRIBE with flags 0000, packet id 1, no properties, filter "t", QoS 0.
    sendBytes("a", [0x80, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x74, 0x00]),
  ]),
  scenario("an UNSUBSCRIBE without a topic filter is a protocol error", [
    connect("a"),
    // UNSUBSCRIBE, packet id 1, no properties, no filter.
    sendBytes("a", [0xa2, 0x03, 0x00, 0x01, 0x00]),
  ], { expectDifference: [{ id: "unsubscribe-empty-reason", clients: ["a"] }] }),
  scenario("a SUBSCRIBE without a topic filter is a protocol error", [
    connect4("a"),
    sendBytes("a", [0x82, 0x02, 0x00, 0x01]),
  ]),
  scenario("a packet the server sends (CONNACK) from a client is a protocol error; the will is published", [
    connect("watch"),
    subscribe("watch", "w/#", 0),
    connect("a", { will: { topic: "w/a", payload: "gone" } }),
    sendBytes("a", [0x20, 0x03, 0x00, 0x00, 0x00]),
  ], { expectDifference: [{ id: "protocol-error-disconnect", clients: ["a"] }] }),
  scenario("a topic name with U+0000 is refused", [
    connect("a"),
    publish("a", "t/\u0000", "nul", { qos: 1, noWait: true }),
  ]),
];
