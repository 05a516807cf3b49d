import assert from "node:assert/strict";
import { bridgeProblems, parseAddress } from "../../src/config/bridge_rules.ts";
import { parseConfig } from "../../src/config/load_config.ts";

const valid = parseConfig(
  "bridges:\n  - { name: a, address: 'h:1883', topics: [{ pattern: 'x/#' }] }\n",
  "test.yaml",
).bridges[0];

Deno.test("a complete bridge has no problems", () => {
  assert.deepEqual(bridgeProblems([valid]), []);
});

Deno.test("each problem carries the index of its bridge, so that it can be reported at its line", () => {
  const problems = bridgeProblems([valid, { ...valid, address: "h:99999" }, valid]);
  assert.deepEqual(problems, [
    { index: 1, key: "bridges[1].name", message: 'bridge name "a" is used twice' },
    { index: 1, key: "bridges[1].address", message: 'expected host:port, got "h:99999"' },
    { index: 2, key: "bridges[2].name", message: 'bridge name "a" is used twice' },
  ]);
});

Deno.test("an empty pattern is fine when a prefix makes the filter, and a problem when nothing does", () => {
  const rule = valid.topics[0];
  const one = { ...valid, topics: [{ ...rule, pattern: "", local_prefix: "a/b", remote_prefix: "c/d" }] };
  assert.deepEqual(bridgeProblems([one]), []);
  const none = { ...valid, topics: [{ ...rule, pattern: "" }] };
  assert.deepEqual(bridgeProblems([none]).map((p) => p.key), [
    "bridges[0].topics[0]",
    "bridges[0].topics[0]",
  ]);
});

Deno.test("an address is host:port, host alone (default port) or [v6]:port", () => {
  assert.deepEqual(parseAddress("example.org:8883", 1883), { host: "example.org", port: 8883 });
  assert.deepEqual(parseAddress("example.org", 1883), { host: "example.org", port: 1883 });
  assert.deepEqual(parseAddress("[::1]:1884", 1883), { host: "::1", port: 1884 });
  assert.equal(parseAddress("example.org:0", 1883), undefined);
  assert.equal(parseAddress("a b:1", 1883), undefined);
  assert.equal(parseAddress("host:port", 1883), undefined);
});
