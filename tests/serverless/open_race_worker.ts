/**
 * A worker for shared_kv_store_test.ts: one isolate of a deployment, which opens the shared
 * KV file it is sent (as each isolate does at start) and answers "ok" or the error.
 */
import { SharedKvStore } from "../../src/serverless/shared_kv_store.ts";

declare const self: Worker;

self.onmessage = async (event: MessageEvent<string>) => {
  const store = new SharedKvStore({ path: event.data });
  try {
    await store.open();
    await store.close();
    self.postMessage("ok");
  } catch (err) {
    self.postMessage(String(err));
  }
};
