import assert from "node:assert/strict";
import { credentialsRevoked, FileAuthenticator } from "../../src/auth/file_authenticator.ts";
import { hashPassword } from "../../src/auth/password_file.ts";
import { FailedAuthLimiter } from "../../src/auth/rate_limit.ts";

const enc = new TextEncoder();
const info = (username?: string, password?: string, extra = {}) => ({
  clientId: "c",
  username,
  password: password === undefined ? undefined : enc.encode(password),
  remoteAddress: "10.1.1.1:999",
  listener: "tcp:0.0.0.0:1883",
  protocolLevel: 4 as const,
  ...extra,
});

async function withFile(fn: (auth: FileAuthenticator) => Promise<void>, anonymous = false) {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/pw`,
      `alice:${await hashPassword("wonderland", 1000)}\nbob:${await hashPassword("builder", 1000)}\n`,
    );
    const auth = new FileAuthenticator({
      passwordFile: `${dir}/pw`,
      allowAnonymous: () => anonymous,
      limiter: new FailedAuthLimiter({ maxFailures: 3 }),
    });
    await auth.reload();
    await fn(auth);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("users in the password file get in with the right password only", async () => {
  await withFile(async (auth) => {
    assert.deepEqual(await auth.authenticate(info("alice", "wonderland")), { ok: true, username: "alice" });
    assert.deepEqual(await auth.authenticate(info("alice", "wrong")), {
      ok: false,
      reason: "bad_credentials",
    });
    assert.deepEqual(await auth.authenticate(info("mallory", "x")), { ok: false, reason: "bad_credentials" });
    assert.deepEqual(await auth.authenticate(info("alice")), { ok: false, reason: "bad_credentials" });
  });
});

Deno.test("anonymous access follows the listener policy", async () => {
  await withFile(async (auth) =>
    assert.deepEqual(await auth.authenticate(info()), { ok: false, reason: "not_authorized" })
  );
  await withFile(async (auth) => assert.deepEqual(await auth.authenticate(info()), { ok: true }), true);
});

Deno.test("repeated failures at one user name from one address are refused as banned, for that user only", async () => {
  await withFile(async (auth) => {
    for (let i = 0; i < 3; i++) await auth.authenticate(info("alice", "nope"));
    assert.deepEqual(await auth.authenticate(info("alice", "wonderland")), { ok: false, reason: "banned" });
    assert.deepEqual(
      await auth.authenticate(info("bob", "builder")),
      { ok: true, username: "bob" },
      "bob's correct credentials from the same address still get in",
    );
    assert.deepEqual(
      await auth.authenticate(info("alice", "wonderland", { remoteAddress: "10.9.9.9:1" })),
      { ok: true, username: "alice" },
      "alice from another address still gets in",
    );
  });
});

Deno.test("one successful login does not reset the failures counted against other accounts", async () => {
  await withFile(async (auth) => {
    for (let i = 0; i < 2; i++) await auth.authenticate(info("alice", "guess"));
    // The guesser logs in with an account of its own, then guesses again.
    assert.equal((await auth.authenticate(info("bob", "builder"))).ok, true);
    await auth.authenticate(info("alice", "guess"));
    assert.deepEqual(await auth.authenticate(info("alice", "guess")), { ok: false, reason: "banned" });
  });
});

Deno.test("refused anonymous attempts are not counted against anyone", async () => {
  await withFile(async (auth) => {
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(await auth.authenticate(info()), { ok: false, reason: "not_authorized" });
    }
    assert.deepEqual(await auth.authenticate(info("alice", "wonderland")), { ok: true, username: "alice" });
  });
});

Deno.test("an unknown user name is refused like a wrong password, and counted the same", async () => {
  await withFile(async (auth) => {
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await auth.authenticate(info("mallory", "x")), {
        ok: false,
        reason: "bad_credentials",
      });
    }
    assert.deepEqual(await auth.authenticate(info("mallory", "x")), { ok: false, reason: "banned" });
  });
});

/** Median wall time of `fn` over interleaved rounds (interleaving cancels drifts in machine load). */
async function interleavedMedians(rounds: number, fns: (() => Promise<unknown>)[]): Promise<number[]> {
  const times: number[][] = fns.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, fn] of fns.entries()) {
      const start = performance.now();
      await fn();
      times[i].push(performance.now() - start);
    }
  }
  return times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]);
}

Deno.test("an unknown user name costs as much time as a known one with a wrong password (no enumeration)", async () => {
  const iterations = 20_000; // ~10 ms per check here: well above timer and scheduling noise
  const auth = new FileAuthenticator({
    passwordText: `alice:${await hashPassword("wonderland", iterations)}\n` +
      `bob:${await hashPassword("builder", iterations)}\n`,
    allowAnonymous: () => false,
    limiter: new FailedAuthLimiter({ maxFailures: 1_000_000 }),
  });
  await auth.reload();
  const [known, unknown, noPassword] = await interleavedMedians(15, [
    () => auth.authenticate(info("alice", "wrong")),
    () => auth.authenticate(info("zed", "wrong")),
    () => auth.authenticate(info("zed")),
  ]);
  const ratio = unknown / known;
  assert.ok(ratio > 0.6 && ratio < 1.6, `unknown ${unknown.toFixed(2)} ms vs known ${known.toFixed(2)} ms`);
  assert.ok(noPassword / known > 0.6, `no password ${noPassword.toFixed(2)} ms vs ${known.toFixed(2)} ms`);
});

Deno.test("a user name from a verified client certificate needs no password", async () => {
  await withFile(async (auth) => {
    assert.deepEqual(
      await auth.authenticate(info("device-7", undefined, { certificateIdentity: "device-7" })),
      {
        ok: true,
        username: "device-7",
      },
    );
  });
});

Deno.test("users given as password text (no file, as from an environment variable) get in like file users", async () => {
  const auth = new FileAuthenticator({
    passwordText: `bob:${await hashPassword("builder", 1000)}\n`,
    allowAnonymous: () => false,
  });
  await auth.reload();
  assert.deepEqual(await auth.authenticate(info("bob", "builder")), { ok: true, username: "bob" });
  assert.deepEqual(await auth.authenticate(info("bob", "wrong")), { ok: false, reason: "bad_credentials" });
  assert.equal((await auth.authenticate(info())).ok, false);
  const bad = new FileAuthenticator({ passwordText: "bob:plain\n", allowAnonymous: () => false });
  await assert.rejects(() => bad.reload(), /password text:1: expected "user:/);
});

Deno.test("a password file written by mosquitto_passwd serves as it is", async () => {
  const auth = new FileAuthenticator({
    passwordFile: new URL("./fixtures/mosquitto_passwd", import.meta.url).pathname,
    allowAnonymous: () => false,
  });
  await auth.reload();
  assert.deepEqual(await auth.authenticate(info("alice", "wonderland")), { ok: true, username: "alice" });
  assert.deepEqual(await auth.authenticate(info("carol", "p4ss:w0rd ü")), { ok: true, username: "carol" });
  assert.equal((await auth.authenticate(info("carol", "p4ss:w0rd"))).ok, false);
});

Deno.test("after a reload, clients whose entry was removed or changed, and anonymous ones no longer allowed, are revoked", async () => {
  const alice = `alice:${await hashPassword("wonderland", 1000)}\n`;
  const bob = `bob:${await hashPassword("builder", 1000)}\n`;
  const make = async (text: string, anonymous: boolean) => {
    const auth = new FileAuthenticator({ passwordText: text, allowAnonymous: () => anonymous });
    await auth.reload();
    return auth;
  };
  const before = await make(alice + bob + `carol:${await hashPassword("x", 1000)}\n`, true);
  const after = await make(alice + `carol:${await hashPassword("x", 1000)}\n`, false);
  const revoked = credentialsRevoked(before, after);
  const client = (username?: string, extra = {}) => ({
    clientId: "c",
    username,
    listener: "tcp",
    remoteAddress: "1.2.3.4:5",
    ...extra,
  });
  assert.equal(revoked(client("alice")), false, "unchanged entry");
  assert.equal(revoked(client("bob")), true, "removed");
  assert.equal(revoked(client("carol")), true, "changed (a new hash, even of the same password)");
  assert.equal(revoked(client()), true, "anonymous, no longer allowed");
  assert.equal(revoked(client("device-7", { certificateIdentity: "device-7" })), false, "certificate");
  assert.equal(revoked(client("hooked")), false, "never in the file: authenticated by something else");
  assert.equal(credentialsRevoked(before, before)(client()), false);
});
