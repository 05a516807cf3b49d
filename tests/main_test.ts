/** The program's command line, run as a real process. */
import assert from "node:assert/strict";

const main = new URL("../main.ts", import.meta.url).pathname;

async function run(args: string[], cwd?: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--unstable-kv", "-A", main, ...args],
    cwd,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("--version and --help print and exit 0", async () => {
  const version = await run(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^deno-mqtt \d+\.\d+\.\d+/);
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--check-config/);
});

Deno.test("--check-config accepts a valid file and rejects a bad one, naming file, line and key", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/good.yaml`, "listeners:\n  - { type: tcp, port: 1999 }\n");
    await Deno.writeTextFile(`${dir}/bad.yaml`, "listeners:\n  - { type: tcp, port: 99999 }\n");
    const good = await run(["--config", `${dir}/good.yaml`, "--check-config"]);
    assert.equal(good.code, 0, good.stderr);
    const bad = await run(["--config", `${dir}/bad.yaml`, "--check-config"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /bad\.yaml:2: listeners\[0\]\.port: expected an integer 0\.\.65535, got 99999/);
    const missing = await run(["--config", `${dir}/none.yaml`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /none\.yaml.*cannot read the file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--check-config loads the password and ACL files as start does, and names the file and the fix", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/passwords`, "alice:not-a-hash\n");
    await Deno.writeTextFile(`${dir}/acl`, "user alice\ntopic readwrite #\nallow everything\n");
    await Deno.writeTextFile(
      `${dir}/broker.yaml`,
      `listeners:\n  - { type: tcp, port: 1999 }\nauth:\n  password_file: ${dir}/passwords\n  acl_file: ${dir}/acl\n`,
    );
    const r = await run(["--config", `${dir}/broker.yaml`, "--check-config"]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /auth\.password_file: .*passwords:1: expected .*deno task passwd/);
    assert.match(
      r.stderr,
      /auth\.acl_file: .*acl:3: unknown keyword "allow" \(expected topic, pattern or user\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unknown flag prints usage and exits 2", async () => {
  const r = await run(["--frobnicate"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown argument --frobnicate/);
});

Deno.test("a SIGTERM that arrives while the broker is starting shuts it down gracefully once started", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/broker.yaml`,
      "listeners:\n  - { type: tcp, host: 127.0.0.1, port: 0 }\npersistence: { type: memory }\n",
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--unstable-kv", "-A", main, "--config", `${dir}/broker.yaml`],
      env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // The log goes to stderr. The store is restored before any listener opens: the signal lands in
    // the middle of the start.
    let log = "";
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let signalled = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      log += value;
      if (!signalled && log.includes("Restored")) {
        signalled = true;
        child.kill("SIGTERM");
      }
    }
    const status = await child.status;
    assert.ok(signalled, log);
    assert.equal(status.code, 0, log);
    assert.match(log, /Received SIGTERM, shutting down/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
