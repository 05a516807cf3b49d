/**
 * An embedded broker with a custom authentication hook and a topic rule.
 *
 *   deno run -A --unstable-kv examples/embedded_auth_hook.ts [port]
 *
 * Clients log in with user "demo" and a password equal to their client id, and may
 * only publish below `demo/`.
 */
import { Broker } from "../src/mod.ts";

export async function startExample(port = 1883): Promise<{ broker: Broker; port: number }> {
  const broker = new Broker();
  broker.use({
    authenticate(info) {
      const password = new TextDecoder().decode(info.password ?? new Uint8Array());
      if (info.username === "demo" && password === info.clientId) return { ok: true };
      return { ok: false, reason: "bad_credentials" };
    },
    authorizePublish: (_client, topic) => topic.startsWith("demo/"),
  });
  await broker.start();
  const listener = await broker.listen({ type: "tcp", host: "127.0.0.1", port });
  console.log(`embedded broker with an auth hook on port ${listener.port}`);
  return { broker, port: listener.port };
}

if (import.meta.main) await startExample(Number(Deno.args[0] ?? 1883));
