/**
 * Wills: sent after an abnormal end, delayed, cancelled by reconnecting,
 * suppressed by DISCONNECT 0x00, sent by DISCONNECT 0x04. Where timing matters a
 * marker message is published between two waits: its place among the watcher's
 * messages shows whether the will came before or after it.
 */
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
  type WillSpec,
} from "../scenario.ts";

const will = (options: Partial<WillSpec> = {}): WillSpec => ({
  topic: "w/dev",
  payload: "gone",
  qos: 1,
  ...options,
});

/** A watcher subscribed to the wills and to the marker topic. */
const watcher = [
  connect("watch"),
  subscribe("watch", [{ filter: "w/#", qos: 2 }, { filter: "marker", qos: 0 }]),
];
const marker = (text: string) => publish("watch", "marker", text);

export const WILL_SCENARIOS: Scenario[] = [
  scenario("3.1.1: the will is published when the connection drops", [
    ...watcher,
    connect4("dev", { will: will() }),
    drop("dev"),
  ]),
  scenario("v5: the will is published when the connection drops", [
    ...watcher,
    connect("dev", { will: will({ qos: 2 }) }),
    drop("dev"),
  ]),
  scenario("3.1.1: DISCONNECT suppresses the will", [
    ...watcher,
    connect4("dev", { will: will() }),
    disconnect("dev"),
  ]),
  scenario("v5: DISCONNECT 0x00 suppresses the will", [
    ...watcher,
    connect("dev", { will: will() }),
    disconnect("dev", 0x00),
  ]),
  scenario("v5: DISCONNECT 0x04 (with will message) publishes the will", [
    ...watcher,
    connect("dev", { will: will() }),
    disconnect("dev", 0x04),
  ]),
  scenario("a retained will is kept for later subscribers", [
    connect("dev", { will: will({ retain: true, qos: 0 }) }),
    drop("dev"),
    connect("late"),
    subscribe("late", "w/#", 1),
  ]),
  scenario("v5 will properties are passed on", [
    ...watcher,
    connect("dev", {
      will: will({
        properties: {
          contentType: "text/plain",
          payloadFormatIndicator: 1,
          userProperties: [["reason", "crash"]],
          responseTopic: "w/ack",
          correlationData: new TextEncoder().encode("c-1"),
          messageExpiryInterval: 120,
        },
      }),
    }),
    drop("dev"),
  ]),
  scenario("a will delayed by 1 s comes after the delay, not at once", [
    ...watcher,
    connect("dev", { expiry: 60, will: will({ delay: 1 }) }),
    drop("dev"),
    wait(200),
    marker("200 ms"),
    // Mosquitto publishes delayed wills up to a second late.
    wait(2300),
    marker("2.5 s"),
  ]),
  scenario("reconnecting within the Will Delay cancels the will", [
    ...watcher,
    connect("dev", { expiry: 60, will: will({ delay: 2 }) }),
    drop("dev"),
    wait(200),
    connect("dev", { clean: false, expiry: 60 }),
    wait(2200),
    marker("after the delay"),
  ]),
  scenario("a will delay longer than the session expiry: the will goes when the session ends", [
    ...watcher,
    connect("dev", { expiry: 1, will: will({ delay: 30 }) }),
    drop("dev"),
    wait(200),
    marker("200 ms"),
    wait(2500),
    marker("2.7 s"),
  ]),
  scenario("a delayed will with Session Expiry 0 is sent when the connection drops", [
    ...watcher,
    connect("dev", { expiry: 0, will: will({ delay: 30 }) }),
    drop("dev"),
    marker("after the drop"),
  ], { expectDifference: [{ id: "will-delay-session-end", clients: ["watch"] }] }),
  scenario("v5: a will delay of 0xFFFFFFFE s is not cut short by a 32-bit timer", [
    ...watcher,
    connect("dev", { expiry: 0xffffffff, will: will({ delay: 0xfffffffe }) }),
    drop("dev"),
    wait(400),
    marker("400 ms"),
  ]),
  // Mosquitto closes a silent client 5–6 s after its last packet, whatever its keep-alive.
  scenario("the will is published when the broker closes the connection for a keep-alive timeout", [
    ...watcher,
    connect("dev", { keepAlive: 1, silent: true, will: will() }),
    wait(7000),
    marker("after the timeout"),
  ], { expectDifference: [{ id: "keepalive-disconnect-reason", clients: ["dev"] }] }),
  scenario("3.1.1: the will is published after a keep-alive timeout", [
    ...watcher,
    connect4("dev", { keepAlive: 1, silent: true, will: will({ qos: 0 }) }),
    wait(7000),
  ]),
  scenario("v5 takeover: the taken-over connection's will is published", [
    ...watcher,
    connect("dev", { clientId: "device", will: will() }),
    connect("dev2", { clientId: "device" }),
    marker("after the takeover"),
  ], { expectDifference: [{ id: "takeover-disconnect", clients: ["dev"] }] }),
  scenario("3.1.1 takeover: the taken-over connection's will is published", [
    ...watcher,
    connect4("dev", { clientId: "device", will: will() }),
    connect4("dev2", { clientId: "device" }),
    marker("after the takeover"),
  ]),
  scenario("v5 takeover of a session with a delayed will does not publish the will", [
    ...watcher,
    connect("dev", { clientId: "device", expiry: 60, will: will({ delay: 5 }) }),
    connect("dev2", { clientId: "device", clean: false, expiry: 60 }),
    marker("after the takeover"),
  ], { expectDifference: [{ id: "takeover-disconnect", clients: ["dev"] }] }),
];
