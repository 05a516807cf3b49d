import assert from "node:assert/strict";
import { FileAuthenticator } from "../../src/auth/file_authenticator.ts";
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
    await Deno.writeTextFile(`${dir}/pw`, `alice:${await hashPassword("wonderland", 1000)}\n`);
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

Deno.test("repeated failures from one address are refused as banned", async () => {
  await withFile(async (auth) => {
    for (let i = 0; i < 3; i++) await auth.authenticate(info("alice", "nope"));
    assert.deepEqual(await auth.authenticate(info("alice", "wonderland")), { ok: false, reason: "banned" });
  });
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
