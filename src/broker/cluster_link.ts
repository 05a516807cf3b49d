/**
 * What the engine asks of a cluster, when it is part of one (src/cluster/ implements
 * it over NATS). The engine stays free of any transport: it forwards the messages it
 * accepts, and claims a client's session before attaching a CONNECT to it.
 *
 * @module
 */
import type { StoredMessage } from "../persistence/store.ts";
import type { CommitBatch } from "./commit_batch.ts";

/** A node's view of the cluster's transport, for the metrics. */
export interface ClusterStatus {
  /** Connected to a NATS server now. */
  connected: boolean;
  /** NATS connections lost and regained since start. */
  disconnects: number;
  reconnects: number;
  /** Stream publishes and store writes retried through a NATS fault (each waited for, none lost). */
  retries: number;
}

/** The outcome of {@link ClusterLink.claim}. */
export interface ClusterClaim {
  /**
   * The session belongs to another user than the one connecting and stays theirs
   * (session_owner.ts): the CONNECT is refused, and its client's connection elsewhere is left open.
   */
  refused: boolean;
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
   * any other node and, when this node does not hold the session, takes it in (through
   * ClusterMember) caught up on what it missed. Refused, before anything is closed, let go
   * or recorded, when the session belongs to another user than `client.username`.
   */
  claim(clientId: string, clean: boolean, client: { username?: string }): Promise<ClusterClaim>;
  /**
   * After subscriptions changed: resolves once the cluster routes the new filters here,
   * so that a SUBACK promises delivery from every node. Undefined when nothing is pending.
   */
  settled(): Promise<void> | undefined;
  /** The transport's state, for the metrics. */
  status?(): ClusterStatus;
}
