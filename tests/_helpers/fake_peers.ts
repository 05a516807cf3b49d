/**
 * A PeerLink (src/broker/peers.ts) for engine tests: peers that do nothing but record
 * what the engine asks of them, routing like the cluster ("stream") or like serverless
 * isolates ("local"). Each method can be replaced.
 */
import type { PeerLink } from "../../src/broker/peers.ts";

/** What the engine asked of the fake peers. */
export interface PeerCalls {
  forwarded: string[];
  claimed: string[];
  interest: string[];
}

export function fakePeers(
  overrides: Partial<PeerLink> = {},
): { link: PeerLink; calls: PeerCalls } {
  const calls: PeerCalls = { forwarded: [], claimed: [], interest: [] };
  const link: PeerLink = {
    routing: "stream",
    adoptsOrphans: true,
    forward: (message) => void calls.forwarded.push(message.topic),
    claim: (clientId) => {
      calls.claimed.push(clientId);
      return Promise.resolve({ refused: false });
    },
    settled: () => undefined,
    interestChanged: (filter, group, present) =>
      void calls.interest.push(`${present ? "+" : "-"}${group === undefined ? "" : `${group}:`}${filter}`),
    status: () => undefined,
    ...overrides,
  };
  return { link, calls };
}
