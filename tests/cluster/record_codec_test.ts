import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { decodeRecord, encodeRecord } from "../../src/cluster/record_codec.ts";

Deno.test("binary payloads and properties survive the JSON round trip", () => {
  const payload = new Uint8Array(70_000).map((_, i) => i % 256);
  const record = {
    topic: "t",
    payload,
    properties: { correlationData: new Uint8Array([0, 255]), userProperties: [["k", "v"]] },
  };
  assert.deepEqual(decodeRecord(encodeRecord(record)), record);
});

Deno.test("a Node Buffer from NATS is stored as bytes, not as its JSON form", () => {
  const decoded = decodeRecord<{ payload: Uint8Array }>(encodeRecord({ payload: Buffer.from([1, 2, 3]) }));
  assert.ok(decoded.payload instanceof Uint8Array);
  assert.deepEqual([...decoded.payload], [1, 2, 3]);
});
