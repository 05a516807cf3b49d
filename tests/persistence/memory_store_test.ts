import { MemoryStore } from "../../src/persistence/memory_store.ts";
import { runStoreSuite } from "./store_suite.ts";

runStoreSuite(
  "MemoryStore",
  () => Promise.resolve({ store: new MemoryStore(), cleanup: () => Promise.resolve() }),
);
