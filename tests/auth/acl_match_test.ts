import assert from "node:assert/strict";
import { ruleCoversFilter, ruleIntersectsFilter, ruleMatchesTopic } from "../../src/auth/acl_match.ts";

const split = (s: string) => s.split("/");
const matches = (rule: string, topic: string) => ruleMatchesTopic(split(rule), split(topic));
const covers = (rule: string, filter: string) => ruleCoversFilter(split(rule), split(filter));
const intersects = (rule: string, filter: string) => ruleIntersectsFilter(split(rule), split(filter));

Deno.test("a rule matches topic names level by level; # matches the parent level too", () => {
  assert.equal(matches("home/#", "home"), true);
  assert.equal(matches("home/#", "home/a/b"), true);
  assert.equal(matches("home/+", "home/a"), true);
  assert.equal(matches("home/+", "home/a/b"), false);
  assert.equal(matches("home/+", "home"), false);
  assert.equal(matches("+/private", "home/private"), true);
  assert.equal(matches("a/b", "a/b/c"), false);
});

Deno.test("a rule reaches $ topics only when it starts with $ itself [MQTT-4.7.2-1]", () => {
  assert.equal(matches("#", "$SYS/x"), false);
  assert.equal(matches("+/x", "$SYS/x"), false);
  assert.equal(matches("$SYS/#", "$SYS/x"), true);
});

Deno.test("a rule covers a filter when every topic of the filter matches it", () => {
  assert.equal(covers("home/#", "home/#"), true);
  assert.equal(covers("home/#", "home/+/data"), true);
  assert.equal(covers("home/+/data", "home/+/data"), true);
  assert.equal(covers("home/+", "home/#"), false);
  assert.equal(covers("home/secret/#", "home/+/data"), false);
  assert.equal(covers("+/private", "home/+"), false);
  assert.equal(covers("#", "$SYS/#"), false);
});

Deno.test("a rule intersects a filter when some topic matches both, though neither covers the other", () => {
  assert.equal(intersects("home/secret/#", "home/+/data"), true);
  assert.equal(intersects("+/private", "home/+"), true);
  assert.equal(intersects("a/#", "a"), true);
  assert.equal(intersects("a", "a/#"), true);
  assert.equal(intersects("a/+", "a"), false);
  assert.equal(intersects("a/b", "a/c"), false);
  assert.equal(intersects("a/+/c", "a/b/+/d"), false);
  assert.equal(intersects("#", "+/x"), true);
});

Deno.test("$ topics: a wildcard-first filter and a $ rule share nothing, nor do a $ filter and a plain rule", () => {
  assert.equal(intersects("$SYS/#", "#"), false);
  assert.equal(intersects("$SYS/#", "+/broker"), false);
  assert.equal(intersects("#", "$SYS/#"), false);
  assert.equal(intersects("$SYS/#", "$SYS/broker/+"), true);
});
