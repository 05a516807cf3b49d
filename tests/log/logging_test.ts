import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { configureLoggingTo, getLog, jsonLine, payloadForLog, textLine } from "../../src/log/logging.ts";

Deno.test("records under mqtt.* reach the sink at the configured levels, per category", async () => {
  const records: LogRecord[] = [];
  await configureLoggingTo({
    level: "info",
    format: "text",
    categories: { "mqtt.transport": "debug" },
    payloads: false,
  }, (r) => void records.push(r));
  getLog("broker").debug("hidden");
  getLog("broker").info("Client {clientId} connected", { clientId: "c1" });
  getLog("transport").debug("shown");
  assert.deepEqual(records.map((r) => r.category.join(".")), ["mqtt.broker", "mqtt.transport"]);
  assert.match(textLine(records[0]), /INFO +mqtt\.broker: Client c1 connected\n$/);
  const json = JSON.parse(jsonLine(records[0]));
  assert.equal(json.clientId, "c1");
  // LogTape's JSON Lines fields, with the properties beside them.
  assert.equal(json.level, "INFO");
  assert.equal(json.logger, "mqtt.broker");
  assert.equal(json.message, 'Client "c1" connected');
  assert.equal(json["@timestamp"], new Date(records[0].timestamp).toISOString());
  await configureLoggingTo({ level: "fatal", format: "text", categories: {}, payloads: false }, () => {});
});

Deno.test("payloads are hidden unless payload logging is enabled", () => {
  const bytes = new TextEncoder().encode("secret reading");
  assert.equal(payloadForLog(bytes, false), "<hidden>");
  assert.equal(payloadForLog(bytes, true), "secret reading");
});

/** A record as LogTape builds it for `Client {clientId} from {remote}`. */
function clientRecord(clientId: unknown): LogRecord {
  return {
    category: ["mqtt", "broker"],
    level: "info",
    message: ["Client ", clientId, " from ", "127.0.0.1:1", " refused"],
    rawMessage: "Client {clientId} from {remote} refused",
    timestamp: Date.parse("2030-01-01T00:00:00Z"),
    properties: { clientId, remote: "127.0.0.1:1" },
  };
}

const FORGED = "x\n2030-01-01T00:00:00.000Z INFO    mqtt.broker: Client admin connected";

Deno.test("a client id with a newline cannot forge a line of the text log", () => {
  const line = textLine(clientRecord(FORGED));
  assert.equal(line.split("\n").length, 2, "one line and its terminator");
  assert.match(
    line,
    /Client x\\n2030-01-01T00:00:00\.000Z INFO {4}mqtt\.broker: Client admin connected from/,
  );
});

Deno.test("control characters of every kind in logged values are escaped, in text and JSON", () => {
  const hostile = "a\r\tb\u001b[31mc\u007fd\u0085e\u009bf\u2028g\u2029h";
  const text = textLine(clientRecord(hostile));
  assert.ok(text.includes("a\\r\\tb\\u001b[31mc\\u007fd\\u0085e\\u009bf\\u2028g\\u2029h"), text);
  const json = jsonLine(clientRecord(hostile));
  // Nothing but printable ASCII and the final newline on the line...
  assert.match(json, /^[\x20-\x7e]*\n$/);
  // ...and the structured value parses back to exactly what the client sent.
  assert.equal(JSON.parse(json).clientId, hostile);
  // Values that are not strings are escaped in the message too.
  assert.ok(!textLine(clientRecord({ id: "\u0085" })).includes("\u0085"));
});

Deno.test("the JSON log keeps a forged line inside its one record", () => {
  const json = jsonLine(clientRecord(FORGED));
  assert.equal(json.split("\n").length, 2);
  assert.equal(JSON.parse(json).clientId, FORGED);
});
