import assert from "node:assert/strict";
import { AclFileAuthorizer, filterCovers, parseAclFile } from "../../src/auth/acl_file.ts";

const ACL = `# anonymous clients
topic read public/#

user alice
topic readwrite home/alice/#
topic deny home/alice/secret
topic write sensors/+/temp

user bob
topic read sensors/#

pattern readwrite clients/%c/#
pattern read users/%u/inbox
topic read $SYS/broker/#
`;

const acl = new AclFileAuthorizer(parseAclFile(ACL, "acl"));
const alice = { clientId: "c-alice", username: "alice" };
const bob = { clientId: "c-bob", username: "bob" };
const anon = { clientId: "c-anon" };

Deno.test("ACL: rules before any user line apply to anonymous clients", () => {
  assert.equal(acl.authorize(anon, "read", "public/news"), true);
  assert.equal(acl.authorize(anon, "write", "public/news"), false);
  assert.equal(acl.authorize(alice, "read", "public/news"), false);
});

Deno.test("ACL: user blocks grant read, write and readwrite as written", () => {
  assert.equal(acl.authorize(alice, "write", "home/alice/lamp"), true);
  assert.equal(acl.authorize(alice, "read", "home/alice/lamp"), true);
  assert.equal(acl.authorize(alice, "write", "sensors/kitchen/temp"), true);
  assert.equal(acl.authorize(alice, "read", "sensors/kitchen/temp"), false);
  assert.equal(acl.authorize(bob, "write", "sensors/kitchen/temp"), false);
  assert.equal(acl.authorize(bob, "read", "home/alice/lamp"), false);
});

Deno.test("ACL: deny beats a grant", () => {
  assert.equal(acl.authorize(alice, "write", "home/alice/secret"), false);
  assert.equal(
    acl.authorize(alice, "read", "home/alice/#"),
    false,
    "a subscription reaching the denied topic",
  );
});

Deno.test("ACL: patterns substitute %c and %u; %u never applies to anonymous clients", () => {
  assert.equal(acl.authorize(bob, "write", "clients/c-bob/status"), true);
  assert.equal(acl.authorize(bob, "write", "clients/c-alice/status"), false);
  assert.equal(acl.authorize(bob, "read", "users/bob/inbox"), true);
  assert.equal(acl.authorize(anon, "read", "users//inbox"), false);
  assert.equal(acl.authorize(anon, "write", "clients/c-anon/x"), true);
});

Deno.test("ACL: a subscription is allowed only when a rule covers its whole filter", () => {
  assert.equal(acl.authorize(bob, "read", "sensors/+/temp"), true);
  assert.equal(acl.authorize(bob, "read", "sensors/#"), true);
  assert.equal(acl.authorize(bob, "read", "#"), false);
  assert.equal(acl.authorize(bob, "read", "+/kitchen/temp"), false);
});

Deno.test("ACL: $SYS is readable only where a rule names it [MQTT-4.7.2-1]", () => {
  assert.equal(filterCovers("#", "$SYS/broker/uptime"), false);
  assert.equal(acl.authorize(alice, "read", "$SYS/broker/uptime"), false);
  const sys = new AclFileAuthorizer(parseAclFile("user ops\ntopic read $SYS/#\n", "acl"));
  assert.equal(sys.authorize({ clientId: "o", username: "ops" }, "read", "$SYS/broker/uptime"), true);
});

Deno.test("ACL: a bad line names the file, the line and what is expected", () => {
  assert.throws(
    () => parseAclFile("topic read a\nallow all\n", "my.acl"),
    /my\.acl:2: unknown keyword "allow"/,
  );
  assert.throws(() => parseAclFile("user\n", "my.acl"), /my\.acl:1: "user" needs a user name/);
});

Deno.test("ACL: reload re-reads the file and clears cached answers", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/acl`, "topic read a\n");
    const file = await AclFileAuthorizer.load(`${dir}/acl`);
    assert.equal(file.authorize(anon, "read", "a"), true);
    await Deno.writeTextFile(`${dir}/acl`, "topic read b\n");
    await file.reload();
    assert.equal(file.authorize(anon, "read", "a"), false);
    assert.equal(file.authorize(anon, "read", "b"), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
