/**
 * Helpers for bridge tests: a server from inline YAML, an in-process collector
 * of the messages a broker routes, and a wait for the bridges to connect.
 */
import type { Broker } from "../../src/public_broker.ts";
import { parseConfig } from "../../src/config/load_config.ts";
import { type Server, startServer } from "../../src/server.ts";
import { waitFor } from "./wait_for.ts";

/** Starts a server (memory store, no $SYS interval noise) from YAML that may add bridges. */
export function serverFrom(yaml: string): Promise<Server> {
  const base = "persistence: { type: memory }\nsys: { interval: 0 }\n";
  return startServer(parseConfig(base + yaml, "test.yaml", { checkFiles: false, env: {} }));
}

/** Collects "topic payload" lines of every message routed to `filter`, in-process. */
export function collect(
  broker: Pick<Broker, "subscribe">,
  filter: string,
): { lines: string[]; stop(): Promise<void> } {
  const lines: string[] = [];
  const stream = broker.subscribe(filter);
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  const pumping = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) return;
      lines.push(`${value.topic} ${decoder.decode(value.payload)}`);
    }
  })();
  return {
    lines,
    async stop() {
      await reader.cancel();
      await pumping;
    },
  };
}

/** Waits until every bridge of `server` is connected. */
export function bridgesConnected(server: Server, timeoutMs = 5000): Promise<void> {
  return waitFor("the bridges to connect", () => server.bridges().every((b) => b.connected), timeoutMs);
}

/** Sleeps (to let anything that should not happen have its chance). */
export function settle(ms = 300): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
