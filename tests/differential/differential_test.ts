/**
 * Differential conformance: every scenario of tests/differential/scenarios runs
 * against this broker (main.ts as a child process) and against Mosquitto 2.0.11
 * with the same configuration, and what each client observed must be the same,
 * unless the scenario names a catalogued difference (differences.ts, listed in
 * docs/conformance.md). A listed difference that no longer shows fails too, so
 * the list stays true. Scenarios run in parallel, each broker fresh on its own
 * port; skipped with a message when Mosquitto is not installed.
 */
import assert from "node:assert/strict";
import { mosquittoAvailable } from "../_helpers/mosquitto.ts";
import { type BothObservations, runOnBoth } from "./brokers.ts";
import { compareObservations, formatDifference, pooled } from "./observation.ts";
import type { Scenario } from "./scenario.ts";
import { type Difference, DIFFERENCES } from "./differences.ts";
import { SCENARIOS } from "./scenarios/all_scenarios.ts";

/** Scenarios in flight at once: each runs two brokers and a few clients on a 2-core machine. */
const CONCURRENCY = 4;

if (!mosquittoAvailable) {
  console.warn("differential tests skipped: mosquitto is not installed (Debian package mosquitto)");
}

let results: Map<Scenario, Promise<BothObservations>> | undefined;

/** Starts every scenario (bounded concurrency) on first use; each test awaits its own. */
function resultOf(scenario: Scenario): Promise<BothObservations> {
  if (results === undefined) {
    results = new Map();
    const queue = [...SCENARIOS];
    const waiting = new Map<Scenario, PromiseWithResolvers<BothObservations>>();
    for (const s of SCENARIOS) {
      const deferred = Promise.withResolvers<BothObservations>();
      // Rejections are handled by the test that awaits them, possibly later.
      deferred.promise.catch(() => {});
      waiting.set(s, deferred);
      results.set(s, deferred.promise);
    }
    const worker = async () => {
      for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
        const deferred = waiting.get(s)!;
        await runOnBoth(s).then(deferred.resolve, deferred.reject);
      }
    };
    for (let i = 0; i < CONCURRENCY; i++) worker();
  }
  return results.get(scenario)!;
}

function check(scenario: Scenario, observed: BothObservations): void {
  const differences = compareObservations(
    pooled(observed.ours, scenario.pools),
    pooled(observed.mosquitto, scenario.pools),
  );
  const expected = scenario.expectDifference ?? [];
  const allowsAll = expected.some((e) => e.clients === undefined);
  const allowed = new Set(expected.flatMap((e) => e.clients ?? []));
  const unexpected = differences.filter((d) => !allowsAll && !allowed.has(d.client));
  assert.ok(
    unexpected.length === 0,
    `this broker and Mosquitto differ:\n${unexpected.map(formatDifference).join("\n")}`,
  );
  for (const e of expected) {
    // Another change being merged reconciles a pending difference: it may or may not show yet.
    const entry: Difference = DIFFERENCES[e.id];
    if (entry.kind === "pending") continue;
    const shown = differences.some((d) => e.clients === undefined || e.clients.includes(d.client));
    assert.ok(
      shown,
      `expected difference "${e.id}" no longer shows: remove it from the scenario (and from ` +
        `differences.ts if no scenario uses it)\n${JSON.stringify(observed.ours, null, 2)}`,
    );
  }
}

for (const scenario of SCENARIOS) {
  Deno.test({
    name: `same as Mosquitto: ${scenario.name}`,
    ignore: !mosquittoAvailable,
    // Scenarios run ahead in parallel: their sockets and timers outlive the test that started them.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      check(scenario, await resultOf(scenario));
    },
  });
}

Deno.test("there are at least 80 scenarios, with distinct names", () => {
  assert.ok(SCENARIOS.length >= 80, `${SCENARIOS.length} scenarios`);
  const names = SCENARIOS.map((s) => s.name);
  assert.deepEqual(names.filter((n, i) => names.indexOf(n) !== i), []);
});

Deno.test("every catalogued difference from Mosquitto is allowed by some scenario", () => {
  const used = new Set(SCENARIOS.flatMap((s) => (s.expectDifference ?? []).map((e) => e.id)));
  assert.deepEqual(Object.keys(DIFFERENCES).filter((id) => !used.has(id as keyof typeof DIFFERENCES)), []);
});
