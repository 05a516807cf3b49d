import assert from "node:assert/strict";
import {
  formatPasswordFile,
  hashPassword,
  parsePasswordFile,
  verifyPassword,
} from "../../src/auth/password_file.ts";

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
  assert.throws(() => parsePasswordFile("bob:plaintext\n", "pw.txt"), /pw\.txt:1: expected/);
});
