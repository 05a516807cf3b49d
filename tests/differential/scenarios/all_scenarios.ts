/** Every differential scenario, in the order the tests list them. */
import type { Scenario } from "../scenario.ts";
import { PROTOCOL_ERROR_SCENARIOS } from "./protocol_errors.ts";
import { QUEUE_SCENARIOS } from "./queues.ts";
import { RETAINED_SCENARIOS } from "./retained.ts";
import { SESSION_SCENARIOS } from "./sessions.ts";
import { SUBSCRIPTION_SCENARIOS } from "./subscriptions.ts";
import { ACL_SCENARIOS, AUTH_SCENARIOS } from "./security.ts";
import { PACKET_SIZE_SCENARIOS, V5_SCENARIOS } from "./v5_features.ts";
import { WILL_SCENARIOS } from "./wills.ts";

export const SCENARIOS: Scenario[] = [
  ...SESSION_SCENARIOS,
  ...QUEUE_SCENARIOS,
  ...RETAINED_SCENARIOS,
  ...WILL_SCENARIOS,
  ...SUBSCRIPTION_SCENARIOS,
  ...V5_SCENARIOS,
  ...PACKET_SIZE_SCENARIOS,
  ...ACL_SCENARIOS,
  ...AUTH_SCENARIOS,
  ...PROTOCOL_ERROR_SCENARIOS,
];
