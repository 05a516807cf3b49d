/**
 * What the engine asks of a cluster, when it is part of one (src/cluster/ implements
 * it over NATS). The engine stays free of any transport: it forwards the messages it
 * accepts, and claims a client's session before attaching a CONNECT to it.
 *
 * @module
 */
import type { LoadedSession, StoredMessage } from "../persistence/store.ts";
import type { CommitBatch } from "./commit_batch.ts";

/** The outcome of {@link ClusterLink.claim}. */
export interface ClusterClaim {
  refused: boolean;
  loaded?: LoadedSession;
}

export interface ClusterLink {
  /**
   * Hands a message accepted on this node to the other nodes (and to share groups,
   * which the cluster balances). May make `batch` wait, so that a QoS 1/2
   * acknowledgement is sent only once the cluster holds the message.
   */
  forward(message: StoredMessage, batch: CommitBatch): void;
  /**
   * Called on CONNECT before the session is attached: closes the client's connection on
   * any other node, and returns its stored session when this node does not hold it.
   * `refused` when the session belongs to another user than `client.username` and stays
   * theirs (session_owner.ts): its connection elsewhere is left open.
   */
  claim(clientId: string, clean: boolean, client: { username?: string }): Promise<ClusterClaim>;
  /**
   * After subscriptions changed: resolves once the cluster routes the new filters here,
   * so that a SUBACK promises delivery from every node. Undefined when nothing is pending.
   */
  settled(): Promise<void> | undefined;
}
