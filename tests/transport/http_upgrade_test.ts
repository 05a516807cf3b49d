import assert from "node:assert/strict";
import {
  checkUpgrade,
  chooseSubprotocol,
  MAX_HEAD_BYTES,
  parseRequestHead,
  type RequestHead,
  switchingProtocols,
} from "../../src/transport/http_upgrade.ts";

const encode = (text: string) => new TextEncoder().encode(text);

/** The handshake request of RFC 6455 section 1.2, asking for MQTT. */
const REQUEST = "GET /mqtt?client=1 HTTP/1.1\r\n" +
  "Host: broker.example\r\n" +
  "Upgrade: websocket\r\n" +
  "Connection: keep-alive, Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
  "Sec-WebSocket-Version: 13\r\n" +
  "Sec-WebSocket-Protocol: mqtt\r\n\r\n";

function head(text: string): RequestHead {
  const parsed = parseRequestHead(encode(text));
  assert.ok(parsed !== null && !("status" in parsed), `parsed: ${JSON.stringify(parsed)}`);
  return parsed;
}

Deno.test("the request head is complete only at the blank line, cut anywhere", () => {
  const bytes = Uint8Array.from([...encode(REQUEST), 0x82, 0x80]);
  for (let cut = 0; cut < REQUEST.length; cut++) assert.equal(parseRequestHead(bytes.subarray(0, cut)), null);
  const parsed = parseRequestHead(bytes) as RequestHead;
  assert.equal(parsed.headers.get("sec-websocket-version"), "13");
  assert.deepEqual([...parsed.rest], [0x82, 0x80], "bytes after the head are the first frames");
});

Deno.test("a valid upgrade is accepted with RFC 6455's accept key and the mqtt subprotocol [MQTT-6.0.0-4]", () => {
  const answer = checkUpgrade(head(REQUEST), "/mqtt");
  assert.deepEqual(answer, { accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", protocol: "mqtt" });
  assert.match(new TextDecoder().decode(switchingProtocols("k", "mqtt")), /^HTTP\/1\.1 101 .*\r\n\r\n$/s);
});

Deno.test("requests that cannot upgrade are answered with the status that says why", () => {
  const variant = (from: string, to: string) => head(REQUEST.replace(from, to));
  assert.equal((checkUpgrade(head(REQUEST), "/ws") as { status: number }).status, 404);
  assert.equal(
    (checkUpgrade(variant("Upgrade: websocket\r\n", ""), "/mqtt") as { status: number }).status,
    426,
  );
  assert.equal((checkUpgrade(variant("GET", "POST"), "/mqtt") as { status: number }).status, 400);
  assert.equal(
    (checkUpgrade(variant("keep-alive, Upgrade", "keep-alive"), "/mqtt") as { status: number }).status,
    400,
  );
  assert.equal(
    (checkUpgrade(variant("Version: 13", "Version: 8"), "/mqtt") as { status: number }).status,
    426,
  );
  assert.equal(
    (checkUpgrade(variant("dGhlIHNhbXBsZSBub25jZQ==", "short"), "/mqtt") as { status: number }).status,
    400,
  );
  assert.equal(
    (checkUpgrade(variant("Protocol: mqtt", "Protocol: chat"), "/mqtt") as { status: number }).status,
    400,
  );
});

Deno.test("a head that never ends is refused at 8 KiB; a bad request line at once", () => {
  assert.deepEqual(parseRequestHead(new Uint8Array(MAX_HEAD_BYTES).fill(0x41)), {
    status: 431,
    message: "request head too large",
  });
  assert.equal((parseRequestHead(encode("HELLO\r\n\r\n")) as { status: number }).status, 400);
  assert.equal(
    (parseRequestHead(encode("GET / HTTP/1.1\r\nno colon\r\n\r\n")) as { status: number }).status,
    400,
  );
});

Deno.test("subprotocol lists with or without spaces are understood [MQTT-6.0.0-4]", () => {
  assert.equal(chooseSubprotocol("mqttv3.1,mqtt"), "mqtt");
  assert.equal(chooseSubprotocol("chat, mqttv3.1"), "mqttv3.1");
  assert.equal(chooseSubprotocol("chat"), null);
  assert.equal(chooseSubprotocol(undefined), null);
});
