import assert from "node:assert/strict";
import { AclFileAuthorizer, parseAclFile } from "../../src/auth/acl_file.ts";

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
/** What the client may receive, as asked at delivery. */
const reads = (client: { clientId: string; username?: string }, topic: string) =>
  acl.authorizeDelivery(client, topic);
/** Whether a SUBSCRIBE to the filter is granted. */
const subscribes = (client: { clientId: string; username?: string }, filter: string) =>
  acl.authorize(client, "read", filter);

Deno.test("ACL: rules before any user line apply to anonymous clients", () => {
  assert.equal(reads(anon, "public/news"), true);
  assert.equal(acl.authorize(anon, "write", "public/news"), false);
  assert.equal(reads(alice, "public/news"), false);
});

Deno.test("ACL: user blocks grant read, write and readwrite as written", () => {
  assert.equal(acl.authorize(alice, "write", "home/alice/lamp"), true);
  assert.equal(reads(alice, "home/alice/lamp"), true);
  assert.equal(acl.authorize(alice, "write", "sensors/kitchen/temp"), true);
  assert.equal(reads(alice, "sensors/kitchen/temp"), false);
  assert.equal(acl.authorize(bob, "write", "sensors/kitchen/temp"), false);
  assert.equal(reads(bob, "home/alice/lamp"), false);
});

Deno.test("ACL: a deny withholds its topics only; the wider subscription is granted (Mosquitto's meaning)", () => {
  assert.equal(acl.authorize(alice, "write", "home/alice/secret"), false);
  assert.equal(reads(alice, "home/alice/secret"), false);
  assert.equal(subscribes(alice, "home/alice/#"), true, "the docs' own example subscribes");
  assert.equal(reads(alice, "home/alice/lamp"), true);
  assert.equal(subscribes(alice, "home/alice/secret"), false, "a deny covering the whole filter refuses it");
});

Deno.test("ACL: denies are checked before grants whatever their order, and the user's rules before patterns", () => {
  const rules = new AclFileAuthorizer(parseAclFile(
    "user u\ntopic read a/#\ntopic deny a/secret/#\ntopic readwrite b/#\npattern deny b/%c\npattern read a/secret/%c\n",
    "acl",
  ));
  const u = { clientId: "x", username: "u" };
  assert.equal(
    rules.authorizeDelivery(u, "a/secret/x"),
    false,
    "the user's deny, though written after the grant",
  );
  assert.equal(rules.authorizeDelivery(u, "a/open"), true);
  assert.equal(rules.authorizeDelivery(u, "b/x"), true, "the user's grant decides before the pattern deny");
  const v = { clientId: "x", username: "v" };
  assert.equal(rules.authorizeDelivery(v, "b/x"), false, "a user without rules meets the pattern deny");
});

Deno.test("ACL: a grant matching the topic but not the access lets later rules decide", () => {
  const rules = new AclFileAuthorizer(parseAclFile("user u\ntopic write t/#\ntopic read t/x\n", "acl"));
  const u = { clientId: "c", username: "u" };
  assert.equal(rules.authorizeDelivery(u, "t/x"), true);
  assert.equal(rules.authorizeDelivery(u, "t/y"), false);
  assert.equal(rules.authorize(u, "write", "t/y"), true);
});

Deno.test("ACL: patterns substitute %c and %u anywhere in the filter; %u never applies to anonymous clients", () => {
  assert.equal(acl.authorize(bob, "write", "clients/c-bob/status"), true);
  assert.equal(acl.authorize(bob, "write", "clients/c-alice/status"), false);
  assert.equal(reads(bob, "users/bob/inbox"), true);
  assert.equal(reads(anon, "users//inbox"), false);
  assert.equal(acl.authorize(anon, "write", "clients/c-anon/x"), true);
  const inside = new AclFileAuthorizer(parseAclFile("pattern read mid/x%c/y\n", "acl"));
  assert.equal(inside.authorizeDelivery({ clientId: "zz" }, "mid/xzz/y"), true);
  assert.equal(inside.authorizeDelivery({ clientId: "zz" }, "mid/zz/y"), false);
});

Deno.test("ACL: a client id with + or # gets nothing from %c patterns (CVE-2017-7650)", () => {
  for (const clientId of ["+", "#", "a+", "x#"]) {
    const client = { clientId, username: "bob" };
    assert.equal(subscribes(client, "clients/+/#"), false, `${clientId} subscribing to every client's tree`);
    assert.equal(reads(client, "clients/c-alice/cmd"), false);
    assert.equal(acl.authorize(client, "write", "clients/c-alice/cmd"), false, `${clientId} publishing`);
    // Like Mosquitto: no pattern applies at all to such a client, %u ones included.
    assert.equal(reads(client, "users/bob/inbox"), false);
    // Its user's own rules still apply.
    assert.equal(reads(client, "sensors/a/temp"), true);
  }
});

Deno.test("ACL: a user name with + or # gets nothing from %u patterns (CVE-2017-7650)", () => {
  for (const username of ["+", "#", "e+ve", "ev#"]) {
    const client = { clientId: "c-eve", username };
    assert.equal(subscribes(client, "users/+/inbox"), false);
    assert.equal(reads(client, "users/bob/inbox"), false, `${username} reading bob's inbox`);
    assert.equal(acl.authorize(client, "write", "clients/c-eve/x"), false);
  }
});

Deno.test("ACL: a grant pattern never substitutes a client id or user name containing /", () => {
  const idSlash = { clientId: "c-bob/cmd", username: "bob" };
  assert.equal(reads(idSlash, "clients/c-bob/cmd/x"), false, "would reach into c-bob's tree");
  assert.equal(acl.authorize(idSlash, "write", "clients/c-bob/cmd"), false);
  assert.equal(reads({ clientId: "c1", username: "bob/x" }, "users/bob/x/inbox"), false);
  // A deny pattern still substitutes it: that only ever takes access away.
  const deny = new AclFileAuthorizer(parseAclFile("pattern read a/#\npattern deny a/%c/private\n", "acl"));
  assert.equal(deny.authorizeDelivery({ clientId: "b/c" }, "a/b/c/private"), false);
  assert.equal(deny.authorizeDelivery({ clientId: "b/c" }, "a/b/c/open"), true);
});

Deno.test("ACL: a subscription is refused only when it can never deliver anything", () => {
  const rules = new AclFileAuthorizer(parseAclFile(
    "user alice\ntopic read home/#\ntopic deny home/secret/#\ntopic deny +/private\n",
    "acl",
  ));
  const a = { clientId: "a", username: "alice" };
  for (const filter of ["home/+/data", "home/+", "#", "+/+", "home/#"]) {
    assert.equal(rules.authorize(a, "read", filter), true, `${filter} can match readable topics`);
  }
  for (const filter of ["work/#", "home/secret/#", "home/secret/+", "x/private", "+/private", "$SYS/#"]) {
    assert.equal(rules.authorize(a, "read", filter), false, `${filter} can match nothing readable`);
  }
  // What each granted subscription carries is decided per message.
  assert.equal(rules.authorizeDelivery(a, "home/secret/data"), false);
  assert.equal(rules.authorizeDelivery(a, "home/private"), false);
  assert.equal(rules.authorizeDelivery(a, "home/x/data"), true);
});

Deno.test("ACL: $SYS is readable only where a rule names it [MQTT-4.7.2-1]", () => {
  assert.equal(reads(alice, "$SYS/broker/uptime"), false);
  const sys = new AclFileAuthorizer(parseAclFile("user ops\ntopic readwrite #\ntopic read $SYS/#\n", "acl"));
  const ops = { clientId: "o", username: "ops" };
  assert.equal(sys.authorizeDelivery(ops, "$SYS/broker/uptime"), true);
  assert.equal(sys.authorize(ops, "read", "$SYS/#"), true);
  const noSys = new AclFileAuthorizer(parseAclFile("user ops\ntopic readwrite #\n", "acl"));
  assert.equal(noSys.authorizeDelivery(ops, "$SYS/broker/uptime"), false, "# does not reach $ topics");
  assert.equal(noSys.authorize(ops, "read", "$SYS/#"), false);
});

Deno.test("ACL: a bad line names the file, the line and what is expected", () => {
  assert.throws(
    () => parseAclFile("topic read a\nallow all\n", "my.acl"),
    /my\.acl:2: unknown keyword "allow"/,
  );
  assert.throws(() => parseAclFile("user\n", "my.acl"), /my\.acl:1: "user" needs a user name/);
  assert.throws(() => parseAclFile("topic foo bar\n", "my.acl"), /my\.acl:1: unknown access "foo"/);
  assert.throws(
    () => parseAclFile("\ntopic read a/#/b\n", "my.acl"),
    /my\.acl:2: invalid topic filter "a\/#\/b"/,
  );
  assert.throws(() => parseAclFile("pattern deny x+/y\n", "my.acl"), /my\.acl:1: invalid topic filter/);
});

Deno.test("ACL: one word after topic is the filter, with readwrite access (as Mosquitto reads it)", () => {
  const rules = new AclFileAuthorizer(parseAclFile("  topic read\ntopic   write   a b\n", "acl"));
  assert.equal(rules.authorizeDelivery(anon, "read"), true);
  assert.equal(rules.authorize(anon, "write", "a b"), true);
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
