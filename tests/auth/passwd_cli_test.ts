import assert from "node:assert/strict";
import { parsePasswordFile, verifyPassword } from "../../src/auth/password_file.ts";

const cli = new URL("../../src/auth/passwd_cli.ts", import.meta.url).pathname;

async function passwd(args: string[], stdin = ""): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", cli, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const out = await child.output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("deno task passwd creates, adds, changes and deletes users (stdin mode)", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/passwords`;
  try {
    assert.equal((await passwd([file, "alice"], "pw1\n")).code, 1, "without -c a missing file is an error");
    assert.equal((await passwd(["-c", file, "alice"], "pw1\n")).code, 0);
    assert.equal((await passwd([file, "bob"], "pw2\n")).code, 0);
    assert.equal((await passwd([file, "alice"], "pw3\n")).code, 0);
    let users = parsePasswordFile(await Deno.readTextFile(file), file);
    assert.deepEqual([...users.keys()], ["alice", "bob"]);
    assert.equal(await verifyPassword("pw3", users.get("alice")!), true);
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    assert.equal((await passwd(["-D", file, "bob"])).code, 0);
    users = parsePasswordFile(await Deno.readTextFile(file), file);
    assert.deepEqual([...users.keys()], ["alice"]);
    assert.equal((await passwd([file, "x:y"], "p\n")).code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
