/**
 * One acl_file and one set of users, loaded by both brokers: their effect on
 * subscribe, publish, retained delivery and will delivery; password
 * authentication.
 */
import type { SharedConfig } from "../broker_config.ts";
import { connect, connect4, drop, publish, type Scenario, scenario, subscribe } from "../scenario.ts";

const USERS = { alice: "alice-secret", bob: "bob-secret", admin: "admin-secret" };

/** Mosquitto's acl_file syntax; the same file is given to both brokers. */
const ACL = `# anonymous clients
topic read public/#
topic write public/in/#

user alice
topic readwrite alice/#
topic read sensors/#
topic deny sensors/secret
topic write wills/alice

user bob
topic read alice/status
topic readwrite bob/#

user admin
topic readwrite #

pattern readwrite clients/%c/#
pattern read users/%u/inbox/#
`;

const ACL_CONFIG: SharedConfig = { users: USERS, acl: ACL };
const AUTH_CONFIG: SharedConfig = { users: USERS, allowAnonymous: false };

const as = (user: keyof typeof USERS) => ({ username: user, password: USERS[user] });
const admin = connect("admin", as("admin"));

export const ACL_SCENARIOS: Scenario[] = [
  scenario("acl: an anonymous client may subscribe where it may read, not elsewhere", [
    connect("anon"),
    subscribe("anon", [{ filter: "public/#", qos: 1 }, { filter: "alice/#", qos: 1 }]),
    connect4("anon4"),
    subscribe("anon4", [{ filter: "public/news", qos: 1 }, { filter: "bob/x", qos: 1 }]),
  ], {
    config: ACL_CONFIG,
    expectDifference: [{ id: "acl-subscribe-refused", clients: ["anon", "anon4"] }],
  }),
  scenario("acl: a PUBLISH without write access is not delivered (v5 PUBACK 0x87, 3.1.1 silently)", [
    admin,
    subscribe("admin", "#", 1),
    connect("anon"),
    publish("anon", "public/in/x", "allowed", { qos: 1 }),
    publish("anon", "public/out", "read only", { qos: 1 }),
    connect4("anon4"),
    publish("anon4", "public/out", "read only", { qos: 1 }),
  ], { config: ACL_CONFIG }),
  scenario("acl: user rules apply to that user only", [
    admin,
    subscribe("admin", "#", 1),
    connect("alice", as("alice")),
    publish("alice", "alice/x", "own", { qos: 1 }),
    publish("alice", "bob/x", "not hers", { qos: 1 }),
    connect("bob", as("bob")),
    subscribe("bob", [{ filter: "alice/status", qos: 1 }, { filter: "bob/#", qos: 1 }]),
    publish("alice", "alice/status", "online", { qos: 1 }),
  ], { config: ACL_CONFIG }),
  scenario("acl: retained messages are delivered on subscribe only where the subscriber may read", [
    admin,
    publish("admin", "alice/status", "retained", { qos: 1, retain: true }),
    publish("admin", "alice/private", "retained", { qos: 1, retain: true }),
    connect("bob", as("bob")),
    subscribe("bob", "alice/status", 1),
    subscribe("bob", "alice/private", 1),
  ], { config: ACL_CONFIG, expectDifference: [{ id: "acl-subscribe-refused", clients: ["bob"] }] }),
  scenario("acl: an exact subscription to a denied topic is refused", [
    connect("alice", as("alice")),
    subscribe("alice", [{ filter: "sensors/temp", qos: 0 }, { filter: "sensors/secret", qos: 0 }]),
  ], { config: ACL_CONFIG, expectDifference: [{ id: "acl-subscribe-refused", clients: ["alice"] }] }),
  scenario("acl: a wildcard subscription over a denied topic (Mosquitto: granted, denied topics withheld)", [
    admin,
    publish("admin", "sensors/temp", "21", { qos: 1, retain: true }),
    publish("admin", "sensors/secret", "hidden", { qos: 1, retain: true }),
    connect("alice", as("alice")),
    subscribe("alice", "sensors/#", 1),
    publish("admin", "sensors/humidity", "40", { qos: 1 }),
    publish("admin", "sensors/secret", "still hidden", { qos: 1 }),
  ], { config: ACL_CONFIG }),
  scenario("acl: a subscription wider than the grant (Mosquitto: granted, only readable topics delivered)", [
    connect("bob", as("bob")),
    subscribe("bob", "alice/#", 1),
    admin,
    publish("admin", "alice/status", "readable", { qos: 1 }),
    publish("admin", "alice/diary", "not for bob", { qos: 1 }),
  ], { config: ACL_CONFIG }),
  scenario("acl: a will is published only to a topic its client may write", [
    admin,
    subscribe("admin", "wills/#", 1),
    connect("alice", { ...as("alice"), will: { topic: "wills/alice", payload: "alice gone", qos: 1 } }),
    connect("bob", { ...as("bob"), will: { topic: "wills/bob", payload: "bob gone", qos: 1 } }),
    drop("alice"),
    drop("bob"),
  ], { config: ACL_CONFIG }),
  scenario("acl: a will reaches only subscribers that may read its topic", [
    connect("bob", as("bob")),
    subscribe("bob", "bob/#", 1),
    connect("carol-device", { will: { topic: "clients/carol-device/state", payload: "offline", qos: 1 } }),
    admin,
    subscribe("admin", "clients/#", 1),
    drop("carol-device"),
  ], { config: ACL_CONFIG }),
  scenario("acl: %c patterns give each client its own subtree", [
    admin,
    subscribe("admin", "clients/#", 1),
    connect("dev1"),
    subscribe("dev1", [{ filter: "clients/dev1/#", qos: 1 }, { filter: "clients/dev2/#", qos: 1 }]),
    publish("dev1", "clients/dev1/up", "mine", { qos: 1 }),
    publish("dev1", "clients/dev2/up", "not mine", { qos: 1 }),
  ], { config: ACL_CONFIG, expectDifference: [{ id: "acl-subscribe-refused", clients: ["dev1"] }] }),
  scenario("acl: %u patterns give each user its own inbox", [
    connect("alice", as("alice")),
    subscribe("alice", "users/alice/inbox/#", 1),
    connect("bob", as("bob")),
    subscribe("bob", "users/alice/inbox/#", 1),
    admin,
    publish("admin", "users/alice/inbox/1", "hi alice", { qos: 1 }),
  ], { config: ACL_CONFIG, expectDifference: [{ id: "acl-subscribe-refused", clients: ["bob"] }] }),
  scenario("acl: a client id with a wildcard does not widen a %c pattern", [
    connect("wild", { clientId: "+" }),
    subscribe("wild", "clients/+/#", 1),
    connect("victim", { clientId: "victim" }),
    publish("victim", "clients/victim/data", "private", { qos: 1 }),
  ], {
    config: ACL_CONFIG,
    expectDifference: [{ id: "acl-subscribe-refused", clients: ["wild", "victim"] }],
  }),
  scenario("acl: messages queued for an offline session are delivered where it may read", [
    connect("bob", { ...as("bob"), expiry: 60 }),
    subscribe("bob", "bob/#", 1),
    { do: "disconnect", client: "bob" },
    admin,
    publish("admin", "bob/inbox", "queued", { qos: 1 }),
    connect("bob", { ...as("bob"), clean: false, expiry: 60 }),
  ], { config: ACL_CONFIG }),
];

export const AUTH_SCENARIOS: Scenario[] = [
  scenario("auth: the right password is accepted (v5 and 3.1.1)", [
    connect("alice", as("alice")),
    connect4("bob", as("bob")),
  ], { config: AUTH_CONFIG }),
  scenario("auth: a wrong password is refused (v5 0x86, 3.1.1 0x04)", [
    connect("alice", { username: "alice", password: "wrong" }),
    connect4("bob", { username: "bob", password: "wrong" }),
  ], { config: AUTH_CONFIG, expectDifference: [{ id: "bad-credentials-code" }] }),
  scenario("auth: an unknown user is refused", [
    connect("mallory", { username: "mallory", password: "whatever" }),
    connect4("mallory4", { username: "mallory", password: "whatever" }),
  ], { config: AUTH_CONFIG, expectDifference: [{ id: "bad-credentials-code" }] }),
  scenario("auth: a client without user name is refused when anonymous access is off", [
    connect("anon"),
    connect4("anon4"),
  ], { config: AUTH_CONFIG }),
  scenario("auth: a user name without a password is refused", [
    connect("alice", { username: "alice" }),
    connect4("alice4", { username: "alice" }),
  ], { config: AUTH_CONFIG, expectDifference: [{ id: "bad-credentials-code" }] }),
  scenario("auth: v5 password without a user name is refused", [
    connect("nouser", { password: "alice-secret" }),
  ], { config: AUTH_CONFIG }),
  scenario("auth: user names and passwords are case sensitive", [
    connect("a", { username: "Alice", password: "alice-secret" }),
    connect("b", { username: "alice", password: "Alice-secret" }),
  ], { config: AUTH_CONFIG, expectDifference: [{ id: "bad-credentials-code" }] }),
  scenario("auth: a refused attempt does not stop the right password afterwards", [
    connect("alice", { username: "alice", password: "wrong" }),
    connect("alice", as("alice")),
  ], { config: AUTH_CONFIG, expectDifference: [{ id: "bad-credentials-code" }] }),
  scenario("auth: with anonymous access on, a known user must still give the right password", [
    connect("anon"),
    connect("alice", { username: "alice", password: "wrong" }),
  ], {
    config: { users: USERS, allowAnonymous: true },
    expectDifference: [{ id: "bad-credentials-code", clients: ["alice"] }],
  }),
  scenario(
    "auth: another user connecting with a user's client id is refused (Mosquitto: takes the session over)",
    [
      connect("alice", { ...as("alice"), clientId: "alice-phone", expiry: 60 }),
      subscribe("alice", "alice/#", 1),
      { do: "disconnect", client: "alice" },
      connect("bob", { ...as("bob"), clientId: "alice-phone", clean: false, expiry: 60 }),
    ],
    {
      config: { users: USERS, acl: ACL },
      expectDifference: [{ id: "session-owned-by-user", clients: ["bob"] }],
    },
  ),
];
