import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { configureLogging, getLog, jsonLine, payloadForLog, textLine } from "../../src/log/logging.ts";

Deno.test("records under mqtt.* reach the sink at the configured levels, per category", async () => {
  const records: LogRecord[] = [];
  await configureLogging({
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
  assert.equal(json.level, "info");
  await configureLogging({ level: "fatal", format: "text", categories: {}, payloads: false }, () => {});
});

Deno.test("payloads are hidden unless payload logging is enabled", () => {
  const bytes = new TextEncoder().encode("secret reading");
  assert.equal(payloadForLog(bytes, false), "<hidden>");
  assert.equal(payloadForLog(bytes, true), "secret reading");
});
