/** Tests of the side-by-side runner's argument parsing, result parsing and regression gate (no brokers run). */
import assert from "node:assert/strict";
import { check, loadArgs, parseArgs, parseLastLine } from "./compare_brokers.ts";
import { ratioChart } from "./loadgen/ratio_chart.ts";

Deno.test("the runner defaults to every scenario, three runs, ours against Mosquitto", () => {
  const a = parseArgs([]);
  assert.deepEqual(a.scenarios, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);
  assert.deepEqual([a.runs, a.scale, a.brokers], [3, 1, ["deno", "mosquitto"]]);
});

Deno.test("the -- that `deno task bench:compare -- --runs 3` passes on is skipped", () => {
  assert.equal(parseArgs(["--", "--runs", "5"]).runs, 5);
});

Deno.test("a latency scenario runs after the scenario whose maximum rate it halves", () => {
  assert.deepEqual(parseArgs(["--scenarios", "h"]).scenarios, ["a", "h"]);
  assert.deepEqual(parseArgs(["--scenarios", "i,e,c"]).scenarios, ["c", "e", "i"]);
  assert.deepEqual(parseArgs(["--scenarios", "j"]).scenarios, ["j"]);
  assert.deepEqual(parseArgs(["--scenarios", "a,h"]).scenarios, ["a", "h"]);
});

Deno.test("the 16 KiB fan-out sends 16 KiB payloads and a latency run is paced for ten seconds", () => {
  const g = loadArgs(1883, "g", { scale: 1, duration: 30 });
  assert.equal(g[g.indexOf("--size") + 1], "16384");
  assert.equal(g.includes("--rate"), false);
  const j = loadArgs(1883, "j", { scale: 1, duration: 30 });
  assert.deepEqual([j[j.indexOf("--count") + 1], j[j.indexOf("--duration") + 1]], ["20", "90"]);
  const h = loadArgs(1883, "h", { scale: 1, duration: 30 }, 60_000);
  assert.deepEqual([h[h.indexOf("--rate") + 1], h[h.indexOf("--count") + 1]], ["60000", "600000"]);
});

Deno.test("the chart draws one bar per broker and scenario on a log axis with the 1× line", () => {
  const svg = ratioChart({
    title: "t",
    subtitle: "s <&>",
    brokers: ["deno", "mosquitto"],
    rows: [{ label: "a: 1:1", values: [4, 1] }, { label: "h: p99", values: [0.5, NaN] }],
  });
  assert.match(svg, /^<svg /);
  assert.equal(svg.match(/<rect x="\d/g)?.length, 3 + 2, "three bars (NaN skipped) and two legend keys");
  assert.match(svg, />4\.00×</);
  assert.match(svg, /s &lt;&amp;&gt;/);
});

Deno.test("the regression gate alone measures only the gated fan-out and QoS 1 scenarios", () => {
  assert.deepEqual(parseArgs(["--check", "x.json"]).scenarios, ["c", "e"]);
  assert.deepEqual(parseArgs(["--check", "x.json", "--scenarios", "a,c"]).scenarios, ["a", "c"]);
});

Deno.test("unknown scenarios, brokers and flags are refused", () => {
  assert.throws(() => parseArgs(["--scenarios", "a,z"]), /unknown scenario z/);
  assert.throws(() => parseArgs(["--brokers", "deno,hivemq"]), /unknown broker hivemq/);
  assert.throws(() => parseArgs(["--scale", "0"]), /positive/);
  assert.throws(() => parseArgs(["--fast", "1"]), /unknown argument/);
});

Deno.test("mqttload's last line gives the rate, p99 and loss", () => {
  const m = parseLastLine(
    "progress\ndelivered=100 expected=100 rate=1429561 msg/s p50_us=1679.4 p99_us=11337.7 loss=0 " +
      "pub_rate=72035 msg/s published=5000\n",
  );
  assert.deepEqual(m, { rate: 1429561, p99: 11337.7, loss: 0 });
  assert.ok(Number.isNaN(parseLastLine("").rate));
});

Deno.test("the gate fails only when a ratio is more than 10% below the recorded one", async () => {
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, JSON.stringify({ scale: 1, c: 10, e: 2 }));
    assert.equal(await check(file, { scale: 1 }, { c: 9.1, e: 1.81 }), 0);
    assert.equal(await check(file, { scale: 1 }, { c: 8.9, e: 2.5 }), 1);
    assert.equal(await check(file, { scale: 1 }, { c: 12, e: 1.7 }), 1);
    assert.equal(await check(file, { scale: 1 }, { c: NaN, e: 2 }), 1);
  } finally {
    await Deno.remove(file);
  }
});
