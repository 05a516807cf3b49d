import assert from "node:assert/strict";
import { NatsError } from "nats";
import { isTransient, retryTransient } from "../../src/cluster/nats_retry.ts";

const timeout = () => new NatsError("timeout", "TIMEOUT");

Deno.test("timeouts, missing responders and a leaderless JetStream are transient; bad requests are not", () => {
  assert.equal(isTransient(timeout()), true);
  assert.equal(isTransient(new NatsError("no responders", "503")), true);
  const noLeader = Object.assign(new NatsError("JetStream system temporarily unavailable", "BAD API"), {
    api_error: { code: 503, err_code: 10008, description: "JetStream system temporarily unavailable" },
  });
  assert.equal(isTransient(noLeader), true);
  assert.equal(isTransient(new NatsError("wrong last sequence: 4", "BAD API")), false);
  assert.equal(isTransient(new NatsError("maximum payload exceeded", "MAX_PAYLOAD_EXCEEDED")), false);
  assert.equal(isTransient(new TypeError("x is undefined")), false);
});

Deno.test("a transient failure is retried until the operation succeeds", async () => {
  let attempts = 0;
  const retried: number[] = [];
  const result = await retryTransient(() => {
    if (++attempts < 3) return Promise.reject(timeout());
    return Promise.resolve("stored");
  }, { onRetry: (_err, attempt) => retried.push(attempt) });
  assert.equal(result, "stored");
  assert.deepEqual(retried, [1, 2]);
});

Deno.test("a permanent failure, a closed connection or the deadline ends the retries", async () => {
  let attempts = 0;
  await assert.rejects(
    retryTransient(() => (attempts++, Promise.reject(new NatsError("wrong last sequence", "BAD API")))),
    /wrong last sequence/,
  );
  assert.equal(attempts, 1);
  await assert.rejects(retryTransient(() => Promise.reject(timeout()), { abandoned: () => true }), /timeout/);
  const started = Date.now();
  await assert.rejects(retryTransient(() => Promise.reject(timeout()), { deadlineMs: 300 }), /timeout/);
  assert.ok(Date.now() - started < 2000);
});
