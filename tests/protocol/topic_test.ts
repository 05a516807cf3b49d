import assert from "node:assert/strict";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { Reason } from "../../src/protocol/packet.ts";
import {
  parseSharedFilter,
  topicMatches,
  validateTopicFilter,
  validateTopicName,
} from "../../src/protocol/topic.ts";

const invalid = (fn: () => void, reason: number) =>
  assert.throws(fn, (e: unknown) => e instanceof ProtocolError && e.reasonCode === reason);

Deno.test("topic names and filters are at least one character long [MQTT-4.7.3-1]", () => {
  invalid(() => validateTopicName(""), Reason.TopicNameInvalid);
  invalid(() => validateTopicFilter(""), Reason.TopicFilterInvalid);
});

Deno.test("topic names may not contain wildcards [MQTT-4.7.0-1]", () => {
  invalid(() => validateTopicName("a/+"), Reason.TopicNameInvalid);
  invalid(() => validateTopicName("a/#"), Reason.TopicNameInvalid);
  validateTopicName("a/b c/.*>");
});

Deno.test("topic names may not contain U+0000 [MQTT-4.7.3-2]", () => {
  invalid(() => validateTopicName("a\u0000b"), Reason.TopicNameInvalid);
});

Deno.test("topic names encode to at most 65535 bytes [MQTT-4.7.3-3]", () => {
  invalid(() => validateTopicName("é".repeat(40000)), Reason.TopicNameInvalid);
  validateTopicName("a".repeat(65535));
});

Deno.test("'#' must be alone in the last level of a filter [MQTT-4.7.1-1]", () => {
  for (const ok of ["#", "a/#", "+/#"]) validateTopicFilter(ok);
  for (const bad of ["a#", "a/#/b", "#/a", "a/b#"]) {
    invalid(() => validateTopicFilter(bad), Reason.TopicFilterInvalid);
  }
});

Deno.test("'+' must occupy a whole level of a filter [MQTT-4.7.1-2]", () => {
  for (const ok of ["+", "+/+", "a/+/b", "/+"]) validateTopicFilter(ok);
  for (const bad of ["a+", "a/+b", "++"]) invalid(() => validateTopicFilter(bad), Reason.TopicFilterInvalid);
});

Deno.test("shared filters need a share name and a filter [MQTT-4.8.2-1] [MQTT-4.8.2-2]", () => {
  assert.deepEqual(parseSharedFilter("$share/g/a/+"), { group: "g", filter: "a/+" });
  assert.equal(parseSharedFilter("a/b"), null);
  for (const bad of ["$share//a", "$share/g", "$share/g/", "$share/g+/a", "$share/#/a"]) {
    invalid(() => parseSharedFilter(bad), Reason.TopicFilterInvalid);
  }
});

Deno.test("wildcards at the first level do not match $ topics [MQTT-4.7.2-1]", () => {
  assert.equal(topicMatches("#", "$SYS/x"), false);
  assert.equal(topicMatches("+/x", "$SYS/x"), false);
  assert.equal(topicMatches("$SYS/#", "$SYS/x"), true);
  assert.equal(topicMatches("sport/#", "sport"), true);
  assert.equal(topicMatches("sport/+", "sport"), false);
  assert.equal(topicMatches("+/+", "/finance"), true);
});
