/**
 * Hostile phase (issue #18.11): a client id carrying a newline and terminal
 * escapes, logged by the broker process when it closes the client for a bad
 * packet. Before the fix the text log printed the id raw, so the client wrote
 * a line of its own choosing into the log. Each log format is checked in its
 * own broker process.
 */
import assert from "node:assert/strict";
import { escapeControl } from "../../src/log/logging.ts";
import { assertHealthy } from "../_helpers/broker_health.ts";
import { startBroker } from "../_helpers/broker_process.ts";
import { MiB, rssBytes } from "../_helpers/rss.ts";
import { WireClient } from "../_helpers/wire_client.ts";

const ROUNDS = 20;
// deno-lint-ignore no-control-regex -- looking for control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const FORGED = "2031-01-01T00:00:00.000Z INFO    mqtt.broker: Client admin authenticated as root";
const HOSTILE_ID = `evil\n${FORGED}\r\u001b[2K\u0085\u2028`;

/** Connects with the hostile client id and gets itself closed (QoS 3 PUBLISH: malformed), logged at info. */
async function provoke(port: number): Promise<void> {
  const client = await WireClient.connect({ port }, { clientId: HOSTILE_ID });
  await client.write(Uint8Array.of(0x36, 0x03, 0x00, 0x01, 0x74)).catch(() => {});
  await client.closedByBroker(5000);
  client.close();
}

for (const format of ["text", "json"] as const) {
  Deno.test({
    name: `hostile: a client id with a newline cannot forge a line in the ${format} log`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const broker = await startBroker({ yaml: `persistence:\n  type: memory\nlog:\n  format: ${format}\n` });
      try {
        const baseline = await rssBytes(broker.child.pid);
        for (let i = 0; i < ROUNDS; i++) await provoke(broker.port);
        // Logging is synchronous: the lines are written before the connection is closed.
        const lines = broker.output().split("\n").filter((l) => l !== "");
        const mentions = lines.filter((l) => l.includes("evil"));
        assert.equal(mentions.length, ROUNDS, `one line per close:\n${lines.join("\n")}`);
        assert.ok(!lines.some((l) => l.startsWith("2031-")), "no forged line");
        for (const line of lines) {
          assert.ok(!CONTROL.test(line), `a control character in ${JSON.stringify(line)}`);
        }
        if (format === "text") {
          for (const line of mentions) assert.ok(line.includes(escapeControl(HOSTILE_ID)), line);
        } else {
          for (const line of lines) JSON.parse(line); // every line is one record
          assert.deepEqual(new Set(mentions.map((l) => JSON.parse(l).clientId)), new Set([HOSTILE_ID]));
        }
        // Nothing here should grow memory: 16 MiB covers the heap's own noise.
        await assertHealthy(broker, `${format} log`, { maxRss: baseline + 16 * MiB });
      } finally {
        await broker.stop();
      }
    },
  });
}
