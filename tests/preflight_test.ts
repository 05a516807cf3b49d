/** --check-config's second half: the files the configuration names, loaded as start loads them. */
import assert from "node:assert/strict";
import { parseConfig } from "../src/config/load_config.ts";
import { preflight } from "../src/preflight.ts";
import { hashPassword } from "../src/auth/password_file.ts";
import { makeCerts, opensslAvailable } from "./_helpers/certs.ts";

const configWith = (yaml: string) => parseConfig(yaml, "broker.yaml", { checkFiles: false });

Deno.test("preflight finds nothing wrong with good password and ACL files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/pw`, `alice:${await hashPassword("a", 1000)}\n`);
    await Deno.writeTextFile(`${dir}/acl`, "user alice\ntopic readwrite #\n");
    const config = configWith(`auth:\n  password_file: ${dir}/pw\n  acl_file: ${dir}/acl\n`);
    assert.deepEqual(preflight(config), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("preflight names a password file in an unknown format and an ACL file with an unknown keyword", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/pw`, "alice:plaintext\n");
    await Deno.writeTextFile(`${dir}/acl`, "user alice\nallow all\n");
    const problems = preflight(configWith(`auth:\n  password_file: ${dir}/pw\n  acl_file: ${dir}/acl\n`));
    assert.equal(problems.length, 2);
    assert.match(problems[0], new RegExp(`^auth\\.password_file: ${dir}/pw:1: .*deno task passwd`));
    assert.match(problems[1], new RegExp(`^auth\\.acl_file: ${dir}/acl:2: unknown keyword "allow"`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "preflight names a broken certificate, a key that does not match, and a bad CA bundle",
  ignore: !opensslAvailable,
  async fn() {
    const certs = await makeCerts();
    try {
      const garbage = `${certs.dir}/garbage.pem`;
      await Deno.writeTextFile(
        garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
      );
      const listener = (cert: string, key: string, extra = "") =>
        `  - { type: tls, port: 0, cert_file: ${cert}, key_file: ${key}${extra} }\n`;
      const yaml = "listeners:\n" +
        listener(certs.serverCert, certs.serverKey, `, ca_file: ${certs.caCert}`) +
        listener(garbage, certs.serverKey) +
        listener(certs.serverCert, certs.clientKey) +
        `  - { type: wss, port: 0, cert_file: ${certs.serverCert}, key_file: ${certs.serverKey}, ca_file: ${garbage} }\n`;
      const problems = preflight(configWith(yaml));
      assert.equal(problems.length, 3, problems.join("\n"));
      assert.match(problems[0], /^listeners\[1\]\.cert_file: .*garbage\.pem: not a PEM certificate/);
      assert.match(
        problems[1],
        /^listeners\[2\]\.key_file: the key in .*client\.key does not match the certificate in .*server\.crt/,
      );
      assert.match(problems[2], /^listeners\[3\]\.ca_file: .*garbage\.pem: not a PEM certificate bundle/);
    } finally {
      await Deno.remove(certs.dir, { recursive: true });
    }
  },
});
