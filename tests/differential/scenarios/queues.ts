/** Offline queues: QoS 0/1/2 while offline, order, limits, redelivery of unacknowledged messages, expiry. */
import {
  connect,
  connect4,
  disconnect,
  drop,
  publish,
  type Scenario,
  scenario,
  subscribe,
  wait,
} from "../scenario.ts";

const pub = connect("pub", { clientId: "publisher" });

/** A persistent v5 subscriber to `q/#` at `qos` that goes offline. */
function offline(qos: 0 | 1 | 2) {
  return [connect("a", { expiry: 60 }), subscribe("a", "q/#", qos), disconnect("a")];
}

export const QUEUE_SCENARIOS: Scenario[] = [
  scenario("QoS 0 messages are not queued for an offline session", [
    ...offline(1),
    pub,
    publish("pub", "q/0", "qos0", { qos: 0 }),
    connect("a", { clean: false, expiry: 60 }),
  ]),
  scenario("QoS 0 messages are queued for an offline session when configured", [
    ...offline(1),
    pub,
    publish("pub", "q/0", "qos0", { qos: 0 }),
    connect("a", { clean: false, expiry: 60 }),
  ], { config: { queueQos0: true } }),
  scenario("QoS 1 and 2 messages queued offline arrive in order at their QoS", [
    ...offline(2),
    pub,
    publish("pub", "q/1", "one", { qos: 1 }),
    publish("pub", "q/2", "two", { qos: 2 }),
    publish("pub", "q/1", "three", { qos: 1 }),
    publish("pub", "q/2", "four", { qos: 2 }),
    connect("a", { clean: false, expiry: 60 }),
  ]),
  scenario("a QoS 1 message to an offline QoS 0 subscription is downgraded and not queued", [
    ...offline(0),
    pub,
    publish("pub", "q/1", "downgraded", { qos: 1 }),
    connect("a", { clean: false, expiry: 60 }),
  ]),
  scenario("3.1.1 offline queue of QoS 2 messages", [
    connect4("a", { clean: false }),
    subscribe("a", "q/#", 2),
    disconnect("a"),
    pub,
    publish("pub", "q/x", "first", { qos: 2 }),
    publish("pub", "q/y", "second", { qos: 1 }),
    connect4("a", { clean: false }),
  ]),
  scenario("the offline queue keeps max_queued_messages (3) and drops the rest", [
    ...offline(1),
    pub,
    ...[1, 2, 3, 4, 5].map((i) => publish("pub", "q/n", `m${i}`, { qos: 1 })),
    connect("a", { clean: false, expiry: 60 }),
  ], { config: { maxQueued: 3 } }),
  scenario("an unacknowledged QoS 1 message is sent again with DUP after reconnecting", [
    connect("a", { expiry: 60, autoAck: false }),
    subscribe("a", "q/#", 1),
    pub,
    publish("pub", "q/1", "unacked", { qos: 1 }),
    drop("a"),
    connect("a", { clean: false, expiry: 60 }),
  ]),
  scenario("an unacknowledged QoS 2 message is sent again with DUP after reconnecting", [
    connect("a", { expiry: 60, autoAck: false }),
    subscribe("a", "q/#", 2),
    pub,
    publish("pub", "q/2", "unreceived", { qos: 2 }),
    drop("a"),
    connect("a", { clean: false, expiry: 60 }),
  ]),
  scenario("3.1.1 unacknowledged QoS 1 is sent again with DUP after reconnecting", [
    connect4("a", { clean: false, autoAck: false }),
    subscribe("a", "q/#", 1),
    pub,
    publish("pub", "q/1", "unacked", { qos: 1 }),
    drop("a"),
    connect4("a", { clean: false }),
  ]),
  scenario("a queued message whose Message Expiry passed while offline is not delivered", [
    ...offline(1),
    pub,
    publish("pub", "q/short", "expires", { qos: 1, properties: { messageExpiryInterval: 1 } }),
    publish("pub", "q/long", "stays", { qos: 1, properties: { messageExpiryInterval: 100 } }),
    wait(2500),
    connect("a", { clean: false, expiry: 60 }),
  ]),
  scenario("messages queued for a 3.1.1 session and resumed by v5 keep their order", [
    connect4("a", { clean: false }),
    subscribe("a", "q/#", 1),
    drop("a"),
    pub,
    ...[1, 2, 3].map((i) => publish("pub", `q/${i}`, `m${i}`, { qos: 1 })),
    connect("a", { clean: false, expiry: 60 }),
  ]),
  scenario("messages published while the subscriber is between connections of a takeover are kept", [
    connect("a", { clientId: "same", expiry: 60 }),
    subscribe("a", "q/#", 1),
    pub,
    publish("pub", "q/1", "before", { qos: 1 }),
    connect("b", { clientId: "same", clean: false, expiry: 60 }),
    publish("pub", "q/1", "after", { qos: 1 }),
  ], { expectDifference: [{ id: "takeover-disconnect", clients: ["a"] }] }),
];
