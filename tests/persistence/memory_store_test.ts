import { MemoryStore } from "../../src/persistence/memory_store.ts";
import { runStoreSuite } from "./store_suite.ts";

runStoreSuite(
  "MemoryStore",
  () => Promise.resolve({ store: new MemoryStore(), cleanup: () => Promise.resolve() }),
  {
    skip: [{
      reason: "a MemoryStore's state lives and ends with the object: there is nothing to reopen",
      tests: ["state survives closing and reopening the store"],
    }],
  },
);
