/**
 * One serverless isolate, run as a Worker by tests: starts the serverless broker
 * on a KV path and channel it is given, serves it with Deno.serve on a free port,
 * reports the port, and shuts down when told. Workers of one process share
 * BroadcastChannel names, which is how tests stand in for a host's isolates.
 */
import { startServerless } from "../../src/serverless/serverless.ts";

export type IsolateCommand = { start: { kvPath: string; channel: string } } | { stop: true };
export type IsolateReply = { port: number } | { stopped: true } | { error: string };

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<IsolateCommand>) => void) | null;
  postMessage(reply: IsolateReply): void;
  close(): void;
};

let stop: (() => Promise<void>) | undefined;

scope.onmessage = async ({ data }) => {
  try {
    if ("start" in data) {
      const app = await startServerless(data.start);
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
      stop = async () => {
        await app.close();
        await server.shutdown();
      };
      scope.postMessage({ port: server.addr.port });
    } else {
      await stop?.();
      scope.postMessage({ stopped: true });
      scope.close();
    }
  } catch (err) {
    scope.postMessage({ error: String(err) });
  }
};
