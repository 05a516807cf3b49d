import assert from "node:assert/strict";
import { remap, route, sourceFilter, type TopicRule } from "../../src/bridge/topic_remap.ts";

const rule = (over: Partial<TopicRule> = {}): TopicRule => ({
  pattern: "#",
  direction: "both",
  qos: 1,
  localPrefix: "",
  remotePrefix: "",
  ...over,
});

Deno.test("without prefixes a topic keeps its name across the bridge", () => {
  assert.equal(remap(rule(), "out", "a/b"), "a/b");
  assert.equal(remap(rule(), "in", "a/b"), "a/b");
});

Deno.test("the pattern is matched after the prefix is stripped, and the other prefix is put in front", () => {
  const r = rule({ pattern: "sensors/+", localPrefix: "site/", remotePrefix: "hq/site1/" });
  assert.equal(sourceFilter(r, "out"), "site/sensors/+");
  assert.equal(sourceFilter(r, "in"), "hq/site1/sensors/+");
  assert.equal(remap(r, "out", "site/sensors/t1"), "hq/site1/sensors/t1");
  assert.equal(remap(r, "in", "hq/site1/sensors/t1"), "site/sensors/t1");
});

Deno.test("a topic without the prefix, or whose rest does not match the pattern, is not carried", () => {
  const r = rule({ pattern: "sensors/+", localPrefix: "site/", remotePrefix: "hq/" });
  assert.equal(remap(r, "out", "other/sensors/t1"), undefined);
  assert.equal(remap(r, "out", "site/sensors/t1/deeper"), undefined);
  assert.equal(remap(r, "in", "site/sensors/t1"), undefined);
});

Deno.test("an empty pattern maps exactly one topic, the local prefix to the remote prefix", () => {
  const r = rule({ pattern: "", localPrefix: "local/status", remotePrefix: "remote/status" });
  assert.equal(remap(r, "out", "local/status"), "remote/status");
  assert.equal(remap(r, "in", "remote/status"), "local/status");
  assert.equal(remap(r, "out", "local/status/x"), undefined);
});

Deno.test("a wildcard does not reach $ topics, as in subscriptions", () => {
  assert.equal(remap(rule(), "out", "$SYS/broker/uptime"), undefined);
});

Deno.test("route takes the first rule that carries the topic in that direction, with its QoS", () => {
  const rules = [
    rule({ pattern: "cmd/#", direction: "in", qos: 2 }),
    rule({ pattern: "#", direction: "out", qos: 0, remotePrefix: "edge/" }),
  ];
  assert.deepEqual(route(rules, "in", "cmd/reboot"), { topic: "cmd/reboot", qos: 2 });
  assert.deepEqual(route(rules, "out", "cmd/reboot"), { topic: "edge/cmd/reboot", qos: 0 });
  assert.equal(route(rules, "in", "data/1"), undefined);
});
