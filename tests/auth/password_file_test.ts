import assert from "node:assert/strict";
import {
  decoyRecord,
  formatPasswordFile,
  hashPassword,
  parsePasswordFile,
  recordCost,
  verifyPassword,
} from "../../src/auth/password_file.ts";
import { hasCommand, run } from "../_helpers/broker_process.ts";

const FIXTURE = new URL("./fixtures/mosquitto_passwd", import.meta.url);

Deno.test("a hashed password verifies, a wrong one does not, and the record carries its iteration count", async () => {
  const record = await hashPassword("s3cret", 1000);
  assert.match(record, /^\$pbkdf2-sha512\$1000\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.equal(await verifyPassword("s3cret", record), true);
  assert.equal(await verifyPassword(new TextEncoder().encode("s3cret"), record), true);
  assert.equal(await verifyPassword("s3creT", record), false);
});

Deno.test("the default hash is salted and slow (210 000 iterations)", async () => {
  const [a, b] = [await hashPassword("same"), await hashPassword("same")];
  assert.notEqual(a, b, "different salts");
  assert.equal(a.split("$")[2], "210000");
});

Deno.test("a tampered or malformed record never verifies", async () => {
  const record = await hashPassword("pw", 1000);
  const parts = record.split("$");
  parts[4] = btoa("x".repeat(64));
  assert.equal(await verifyPassword("pw", parts.join("$")), false);
  assert.equal(await verifyPassword("pw", "plain-text"), false);
  assert.equal(await verifyPassword("pw", "$pbkdf2-sha512$abc$x$y"), false);
});

Deno.test("password files parse with comments, and bad lines name file and line", async () => {
  const record = await hashPassword("pw", 1000);
  const users = parsePasswordFile(`# users\n\nalice:${record}\n`, "pw.txt");
  assert.deepEqual([...users.keys()], ["alice"]);
  assert.equal(formatPasswordFile(users), `alice:${record}\n`);
  assert.throws(
    () => parsePasswordFile("bob:plaintext\n", "pw.txt"),
    /pw\.txt:1: expected .*mosquitto_passwd record.*deno task passwd pw\.txt bob/,
  );
  assert.throws(() => parsePasswordFile("$7$101$abc\n", "pw.txt"), /pw\.txt:1: expected/);
  assert.throws(() => parsePasswordFile("eve:$7$x$c2FsdA==$aGFzaA==\n", "pw.txt"), /pw\.txt:1:/);
});

Deno.test("records written by mosquitto_passwd ($7$ PBKDF2-SHA512 and $6$ SHA512) are read as they are", async () => {
  const users = parsePasswordFile(await Deno.readTextFile(FIXTURE), "mosquitto_passwd");
  assert.deepEqual([...users.keys()], ["alice", "carol", "dave smith"]);
  assert.equal(await verifyPassword("wonderland", users.get("alice")!), true);
  assert.equal(await verifyPassword("wonderlanD", users.get("alice")!), false);
  assert.equal(await verifyPassword("p4ss:w0rd ü", users.get("carol")!), true);
  assert.equal(await verifyPassword("p4ss:w0rd u", users.get("carol")!), false);
  assert.equal(await verifyPassword("hunter2", users.get("dave smith")!), true);
  // Kept as they are when the file is written back (by deno task passwd for another user).
  assert.match(formatPasswordFile(users), /^alice:\$7\$101\$/);
});

Deno.test({
  name: "a file made by the real mosquitto_passwd verifies here",
  ignore: !await hasCommand("mosquitto_passwd"),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const file = `${dir}/pw`;
      assert.equal((await run("mosquitto_passwd", ["-b", "-c", file, "alice", "s3cret"])).code, 0);
      assert.equal((await run("mosquitto_passwd", ["-H", "sha512", "-b", file, "bob", "b0b"])).code, 0);
      const users = parsePasswordFile(await Deno.readTextFile(file), file);
      assert.match(users.get("alice")!, /^\$7\$/);
      assert.match(users.get("bob")!, /^\$6\$/);
      assert.equal(await verifyPassword("s3cret", users.get("alice")!), true);
      assert.equal(await verifyPassword("s3cre", users.get("alice")!), false);
      assert.equal(await verifyPassword("b0b", users.get("bob")!), true);
      assert.equal(await verifyPassword("bob", users.get("bob")!), false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a decoy record has the format and cost of its model and matches no password", async () => {
  const own = await hashPassword("pw", 1000);
  const users = parsePasswordFile(await Deno.readTextFile(FIXTURE), "fixture");
  for (const record of [own, users.get("alice")!, users.get("carol")!]) {
    const decoy = decoyRecord(record);
    assert.equal(recordCost(decoy), recordCost(record));
    assert.notEqual(decoy, record);
    assert.equal(await verifyPassword("pw", decoy), false);
  }
  assert.equal(recordCost(own), "$pbkdf2-sha512$1000:64");
  assert.equal(recordCost(users.get("carol")!), "$6$0:64");
});
