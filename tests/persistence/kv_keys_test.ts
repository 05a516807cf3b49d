import assert from "node:assert/strict";
import { clientPart, keyPart, MAX_KEY_STRING } from "../../src/persistence/kv_keys.ts";

async function sha256Hex(s: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("a client id too long for a key is replaced by '#' and its SHA-256 digest", async () => {
  const long = "x".repeat(MAX_KEY_STRING + 1);
  assert.equal(await clientPart(long), "#" + await sha256Hex(long));
  assert.equal(await clientPart("x".repeat(MAX_KEY_STRING)), "x".repeat(MAX_KEY_STRING));
});

Deno.test("a literal client id equal to a long id's digest form gets another key part than that long id", async () => {
  const long = "victim-".repeat(100);
  const forged = "#" + await sha256Hex(long);
  assert.notEqual(await clientPart(forged), await clientPart(long));
  assert.equal(await clientPart(forged), "#" + forged);
});

Deno.test("client ids with and without a leading '#' never share a key part", async () => {
  const ids = ["a", "#a", "##a", "#", "##", "", "a#", "é", "#é"];
  const parts = await Promise.all(ids.map(clientPart));
  assert.equal(new Set(parts).size, ids.length, JSON.stringify(parts));
});

Deno.test("the length limit counts UTF-8 bytes, not UTF-16 units", async () => {
  const id = "é".repeat(MAX_KEY_STRING / 2 + 1); // 514 bytes in 257 units
  assert.match(await clientPart(id), /^#[0-9a-f]{64}$/);
});

Deno.test("topics and filters keep their literal form (no topic or longer filter starts with '#')", async () => {
  assert.equal(await keyPart("#"), "#");
  assert.equal(await keyPart("a/#"), "a/#");
  assert.match(await keyPart("t/".repeat(300)), /^#[0-9a-f]{64}$/);
});
