import assert from "node:assert/strict";
import {
  escapeLevel,
  filterToSubjects,
  subjectToTopic,
  tokensToTopic,
  topicToSubject,
  unescapeLevel,
} from "../../src/cluster/subject_mapping.ts";
import { TopicTree } from "../../src/broker/topic_tree.ts";

/** NATS subject matching as the server does it: `*` one token, `>` one or more at the end. */
function natsMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== "*" && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

const awkwardLevels = [
  "",
  "a",
  "a.b",
  "*",
  ">",
  "with space",
  "_",
  "_2E",
  "$SYS",
  "é",
  "日本",
  "a-b",
  "=",
  "\t",
];

Deno.test("plain levels map to themselves and the empty level to an underscore", () => {
  assert.equal(escapeLevel("sensor-1"), "sensor-1");
  assert.equal(escapeLevel(""), "_");
  assert.equal(topicToSubject("m.v", "a//b"), "m.v.a._.b");
});

Deno.test("dots, wildcards, spaces and underscores are escaped as hex bytes", () => {
  assert.equal(escapeLevel("a.b"), "a_2Eb");
  assert.equal(escapeLevel("*"), "_2A");
  assert.equal(escapeLevel(">"), "_3E");
  assert.equal(escapeLevel("x y"), "x_20y");
  assert.equal(escapeLevel("_"), "_5F");
  assert.equal(escapeLevel("é"), "_C3_A9");
});

Deno.test("every escaped token uses only characters legal in subjects and KV keys", () => {
  for (const level of awkwardLevels) assert.match(escapeLevel(level), /^[A-Za-z0-9_-]+$/);
});

Deno.test("escaping round-trips and never maps two levels to one token", () => {
  const seen = new Map<string, string>();
  for (const level of awkwardLevels) {
    const token = escapeLevel(level);
    assert.equal(unescapeLevel(token), level);
    assert.equal(seen.get(token), undefined, `${level} and ${seen.get(token)} collide`);
    seen.set(token, level);
  }
  const topic = "/a.b/ /*/>/_/";
  assert.equal(subjectToTopic(topicToSubject("mqtt.v", topic), 2), topic);
  assert.equal(tokensToTopic("x._"), "x/");
});

Deno.test("a token that escaping could not produce is refused", () => {
  assert.throws(() => unescapeLevel("_zz"), RangeError);
  assert.throws(() => unescapeLevel("a_4"), RangeError);
});

Deno.test("plus becomes a star, hash becomes a greater-than, and a trailing hash also matches its parent", () => {
  assert.deepEqual(filterToSubjects("p", "a/+/c"), ["p.a.*.c"]);
  assert.deepEqual(filterToSubjects("p", "#"), ["p.>"]);
  assert.deepEqual(filterToSubjects("p", "a/#"), ["p.a.>", "p.a"]);
  assert.deepEqual(filterToSubjects("p", "+/#"), ["p.*.>", "p.*"]);
});

Deno.test("NATS matching of mapped filters agrees with MQTT matching on awkward topics", () => {
  const filters = ["#", "a/#", "+/#", "a/+", "+", "a.b/*", "+/+/c", "/#", "a/b", "a//#", "_/+"];
  const topics = ["a", "a/b", "a/b/c", "a.b/*", "a.b/x", "/", "//", "/x", "x/y/c", "a//", "_/x", "a/", "b"];
  for (const filter of filters) {
    const tree = new TopicTree<number>();
    tree.subscribe(filter, "c", 1);
    for (const topic of topics) {
      const mqtt = tree.match(topic).subscribers.length > 0;
      const subject = topicToSubject("p", topic);
      const nats = filterToSubjects("p", filter).some((s) => natsMatches(s, subject));
      assert.equal(nats, mqtt, `filter ${filter} on topic ${topic}`);
    }
  }
});
