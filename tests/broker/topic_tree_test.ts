import assert from "node:assert/strict";
import { TopicTree } from "../../src/broker/topic_tree.ts";

function clients(tree: TopicTree<string>, topic: string): string[] {
  return tree.match(topic).subscribers.map(([, v]) => v).sort();
}

Deno.test("wildcards match as in the specification's examples", () => {
  const tree = new TopicTree<string>();
  const filters = ["sport/tennis/player1/#", "sport/#", "sport/+", "+/+", "/+", "+", "#", "sport/tennis/+"];
  for (const f of filters) tree.subscribe(f, f, f);
  assert.deepEqual(
    clients(tree, "sport/tennis/player1"),
    ["#", "sport/#", "sport/tennis/player1/#", "sport/tennis/+"].sort(),
  );
  assert.deepEqual(
    clients(tree, "sport/tennis/player1/ranking"),
    ["#", "sport/#", "sport/tennis/player1/#"].sort(),
  );
  assert.deepEqual(clients(tree, "sport"), ["#", "+", "sport/#"].sort());
  assert.deepEqual(clients(tree, "sport/"), ["#", "+/+", "sport/#", "sport/+"].sort());
  assert.deepEqual(clients(tree, "/finance"), ["#", "+/+", "/+"].sort());
});

Deno.test("topics beginning with $ are not matched by leading wildcards [MQTT-4.7.2-1]", () => {
  const tree = new TopicTree<string>();
  tree.subscribe("#", "all", "all");
  tree.subscribe("+/monitor/Clients", "plus", "plus");
  tree.subscribe("$SYS/#", "sys", "sys");
  tree.subscribe("$SYS/monitor/+", "sysplus", "sysplus");
  assert.deepEqual(clients(tree, "$SYS/monitor/Clients"), ["sys", "sysplus"]);
});

Deno.test("shared subscriptions are reported per group with their members", () => {
  const tree = new TopicTree<string>();
  tree.subscribe("jobs/+", "a", "a", "g1");
  tree.subscribe("jobs/+", "b", "b", "g1");
  tree.subscribe("jobs/#", "c", "c", "g2");
  const m = tree.match("jobs/1");
  assert.equal(m.subscribers.length, 0);
  const groups = m.shared.map((g) => `${g.group}:${g.filter}:${g.members.map(([id]) => id).join(",")}`)
    .sort();
  assert.deepEqual(groups, ["g1:jobs/+:a,b", "g2:jobs/#:c"]);
});

Deno.test("a client with overlapping filters appears once per matching filter", () => {
  const tree = new TopicTree<string>();
  tree.subscribe("a/+", "x", "plus");
  tree.subscribe("a/#", "x", "hash");
  assert.deepEqual(clients(tree, "a/b"), ["hash", "plus"]);
});

Deno.test("subscribing again replaces; unsubscribe removes and prunes empty nodes", () => {
  const tree = new TopicTree<string>();
  assert.equal(tree.subscribe("a/b/c", "x", "1"), true);
  assert.equal(tree.subscribe("a/b/c", "x", "2"), false);
  assert.deepEqual(clients(tree, "a/b/c"), ["2"]);
  assert.equal(tree.size, 1);
  assert.equal(tree.nodeCount, 3);
  assert.equal(tree.unsubscribe("a/b/c", "x"), true);
  assert.equal(tree.unsubscribe("a/b/c", "x"), false);
  assert.equal(tree.nodeCount, 0);
  assert.equal(tree.size, 0);
});

Deno.test("a cached match sees later subscriptions and unsubscriptions", () => {
  const tree = new TopicTree<string>();
  tree.subscribe("t", "a", "a");
  assert.deepEqual(clients(tree, "t"), ["a"]);
  tree.subscribe("#", "b", "b");
  assert.deepEqual(clients(tree, "t"), ["a", "b"]);
  tree.unsubscribe("t", "a");
  assert.deepEqual(clients(tree, "t"), ["b"]);
  assert.equal(tree.match("t"), tree.match("t"), "a cache hit returns the same result object");
});

Deno.test("empty levels are real levels", () => {
  const tree = new TopicTree<string>();
  tree.subscribe("a//b", "x", "x");
  tree.subscribe("a/+/b", "y", "y");
  assert.deepEqual(clients(tree, "a//b"), ["x", "y"]);
  assert.deepEqual(clients(tree, "a/b"), []);
});

Deno.test("entries lists every subscription with its filter", () => {
  const tree = new TopicTree<string>();
  tree.subscribe("a/+", "x", "v1");
  tree.subscribe("b", "y", "v2", "g");
  const all = [...tree.entries()].map((e) => `${e.clientId} ${e.filter} ${e.group ?? "-"}`).sort();
  assert.deepEqual(all, ["x a/+ -", "y b g"]);
});

Deno.test("the filter observer hears of a filter's first subscriber and of its last, per share group", () => {
  const tree = new TopicTree<number>();
  const heard: string[] = [];
  tree.onFilterChange = (filter, group, present) =>
    heard.push(`${present ? "+" : "-"}${group ?? ""}:${filter}`);
  tree.subscribe("a/#", "c1", 1);
  tree.subscribe("a/#", "c2", 1);
  tree.subscribe("a/#", "c1", 2); // a replacement is not a new subscriber
  tree.subscribe("a/#", "c3", 1, "g");
  tree.unsubscribe("a/#", "c1");
  tree.unsubscribe("a/#", "c2");
  tree.unsubscribe("a/#", "c3", "g");
  tree.unsubscribe("a/#", "c3", "g");
  assert.deepEqual(heard, ["+:a/#", "+g:a/#", "-:a/#", "-g:a/#"]);
});
