/**
 * The delivery-time read check on its own: what one message costs per subscriber with
 * an ACL file (a repeated topic, the fan-out case; a new topic each time, the cache's
 * miss path), against a broker without one.
 */
import { AclFileAuthorizer, parseAclFile } from "../../src/auth/acl_file.ts";
import { ReadAccess } from "../../src/broker/read_access.ts";
import { Session } from "../../src/broker/session.ts";
import { BENCH_ACL } from "./loadgen/broker_launchers.ts";

const sessions = Array.from({ length: 20 }, (_, i) => new Session(`sub-${i}`, 4, 0));
const acl = new ReadAccess(new AclFileAuthorizer(parseAclFile(BENCH_ACL, "bench.acl")));
const none = new ReadAccess(undefined);
const decoder = new TextDecoder();
const bytes = new TextEncoder().encode("bench/t");
// Each message brings its own topic string, decoded from the packet: the same text, a new string.

Deno.bench("20 subscribers, no ACL", { group: "read", baseline: true }, () => {
  const topic = decoder.decode(bytes);
  for (const s of sessions) none.allows(s, topic);
});
Deno.bench("20 subscribers, ACL file, same topic", { group: "read" }, () => {
  const topic = decoder.decode(bytes);
  for (const s of sessions) acl.allows(s, topic);
});
let n = 0;
Deno.bench("20 subscribers, ACL file, a new topic each message", { group: "read" }, () => {
  const fresh = `bench/t${n++ % 100_000}`;
  for (const s of sessions) acl.allows(s, fresh);
});
