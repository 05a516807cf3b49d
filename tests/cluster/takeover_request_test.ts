import assert from "node:assert/strict";
import { headers } from "nats";
import {
  answersPing,
  answerTakeovers,
  askToLetGo,
  IDENTITY_HEADER,
  identityHeader,
  requestIdentity,
} from "../../src/cluster/takeover_request.ts";
import { natsTest } from "../_helpers/nats_cluster.ts";

Deno.test("a takeover request's identity reads back as sent: a user name of any characters, or null when anonymous", () => {
  for (const name of ["alice", "", "null", '"quoted"', "a b\r\nX-Injected: 1", "é/#+", "💡"]) {
    assert.equal(requestIdentity(identityHeader(name)), name);
  }
  assert.equal(requestIdentity(identityHeader(null)), null);
});

Deno.test("a takeover request without the identity, or with one that cannot be read, is a node of an older version's", () => {
  assert.equal(requestIdentity(undefined), undefined);
  assert.equal(requestIdentity(headers()), undefined);
  for (const raw of ["%E0%A4%A", "not json", "%7B"]) {
    const h = headers();
    h.set(IDENTITY_HEADER, raw);
    assert.equal(requestIdentity(h), undefined, raw);
  }
});

natsTest(
  "a takeover request carries the client id and the identity; refusals, releases, pings and silence come back as such",
  async (nc) => {
    const asked: [string, string | null | undefined][] = [];
    answerTakeovers(nc, {
      instance: "n1:abc",
      letGo: (clientId, identity) => {
        asked.push([clientId, identity]);
        if (clientId === "broken") return Promise.reject(new Error("cannot let go"));
        return Promise.resolve(identity === "eve" ? { refused: true } : { held: true, cursor: 42 });
      },
      onError: () => {},
    });
    const ask = (clientId: string, identity: string | null, timeoutMs = 2000) =>
      askToLetGo(nc, { instance: "n1:abc", clientId }, { identity, timeoutMs });
    assert.deepEqual(await ask("c.1 *>", "eve"), { refused: true });
    assert.deepEqual(await ask("c.1 *>", null), { held: true, cursor: 42 });
    assert.equal(await ask("broken", "alice", 300), undefined, "a failed release answers nothing");
    assert.deepEqual(asked, [["c.1 *>", "eve"], ["c.1 *>", null], ["broken", "alice"]]);
    assert.equal(await answersPing(nc, "n1:abc"), true);
    assert.equal(asked.length, 3, "a ping is not a takeover request");
    const elsewhere = { instance: "n2:def", clientId: "c.1 *>" };
    assert.equal(await askToLetGo(nc, elsewhere, { identity: "alice", timeoutMs: 2000 }), undefined);
    assert.equal(await answersPing(nc, "n2:def"), false, "an instance nobody answers for");
  },
);
