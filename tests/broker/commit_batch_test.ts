import assert from "node:assert/strict";
import { CommitChain } from "../../src/broker/commit_batch.ts";

Deno.test("acknowledgements wait for awaited work (a cluster publish) as well as for the store", async () => {
  const chain = new CommitChain(undefined, { commitFailed() {} });
  const batch = chain.begin();
  let release!: () => void;
  batch.wait(new Promise<void>((resolve) => release = resolve));
  const sent: string[] = [];
  batch.afterCommit(() => sent.push("puback"));
  const done = chain.submit(batch);
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(sent, []);
  release();
  await done;
  assert.deepEqual(sent, ["puback"]);
});

Deno.test("a failed cluster publish sends no acknowledgement and is reported", async () => {
  const errors: unknown[] = [];
  const chain = new CommitChain(undefined, { commitFailed: (err) => errors.push(err) }, { relaxed: true });
  const batch = chain.begin();
  batch.wait(Promise.reject(new Error("no stream")));
  const sent: string[] = [];
  batch.afterCommit(() => sent.push("puback"));
  await chain.submit(batch);
  assert.deepEqual(sent, []);
  assert.equal(errors.length, 1);
});

Deno.test("a batch is not a thenable: a promise resolved with it (as an async function's return) holds the batch", async () => {
  const chain = new CommitChain(undefined, { commitFailed() {} });
  const batch = chain.begin();
  // A `then` method would make `await` (and `return batch` from an async function) call it
  // with resolve/reject as the action and never resolve until the batch ran its actions.
  assert.equal("then" in batch, false);
  const returned = await Promise.resolve(batch);
  assert.equal(returned, batch);
});

Deno.test("a batch that ended empty is begun again; one with work to wait for is not", async () => {
  const chain = new CommitChain(undefined, { commitFailed() {} });
  const empty = chain.begin();
  empty.afterCommit(() => {}); // nothing pending: ran at once, so the batch ends empty
  await chain.submit(empty);
  const again = chain.begin();
  assert.equal(again, empty);
  assert.equal(again.deferring, false);
  let release!: () => void;
  again.wait(new Promise<void>((resolve) => release = resolve));
  const ran: string[] = [];
  again.afterCommit(() => ran.push("first"));
  const done = chain.submit(again);
  const next = chain.begin();
  assert.notEqual(next, again, "still waiting: not handed out again");
  assert.equal(next.deferring, true, "begun while an earlier batch waits: its actions wait too");
  next.afterCommit(() => ran.push("second"));
  const after = chain.submit(next);
  release();
  await Promise.all([done, after]);
  assert.deepEqual(ran, ["first", "second"]);
});
