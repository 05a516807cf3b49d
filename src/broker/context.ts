/**
 * The broker internals that the connection and the packet handlers use. The
 * Broker class implements it; handlers depend on this interface only, which
 * keeps them small and testable.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Store } from "../persistence/store.ts";
import type { StoredMessage } from "../persistence/store.ts";
import type { CommitBatch } from "./commit_batch.ts";
import type { DeliveryContext } from "./delivery.ts";
import type { Hooks } from "./hooks.ts";
import type { EnhancedAuthenticator } from "./enhanced_auth.ts";
import type { MqttOptions } from "./options.ts";
import type { RetainedIndex } from "./retained.ts";
import type { Router } from "./router.ts";
import type { Access, AuthResult, ConnectInfo } from "./security.ts";
import type { Session, Subscription } from "./session.ts";
import type { TopicTree } from "./topic_tree.ts";
import type { KeepAliveSweeper } from "./keep_alive.ts";
import type { ForeignSessionPolicy } from "./session_owner.ts";
import type { PeerLink } from "./peers.ts";

/** Who a topic is authorised for: a client, and its protocol level when it is not connected (its will). */
export interface AuthorizedClient {
  clientId: string;
  username?: string;
  protocolLevel?: number;
}

export interface BrokerContext extends DeliveryContext {
  readonly mqtt: MqttOptions;
  readonly store: Store | undefined;
  readonly sessions: Map<string, Session>;
  readonly tree: TopicTree<Subscription>;
  readonly retained: RetainedIndex<StoredMessage>;
  readonly router: Router;
  readonly hooks: Hooks;
  readonly log: Logger;
  /** Closes connections whose client stayed silent past 1.5 × keep-alive. */
  readonly keepAlive: KeepAliveSweeper;
  /** The peers this broker is linked to (a cluster, serverless isolates), if any (peers.ts). */
  readonly peers: PeerLink | undefined;
  /** True while the broker is shutting down (new connections are refused). */
  readonly closing: boolean;
  /** Number of connections currently served (CONNECT accepted). */
  readonly connectedCount: number;
  authenticate(info: ConnectInfo): Promise<AuthResult>;
  /** The enhanced authentication method of that name, if configured. */
  enhancedAuth(method: string): EnhancedAuthenticator | undefined;
  authorize(client: AuthorizedClient, access: Access, topic: string): boolean | Promise<boolean>;
  /** Stores or clears a retained message, recording the mutation in `batch`. */
  retain(message: StoredMessage, batch: CommitBatch): void;
  /** Called when a session loses its connection: schedules expiry, will. */
  sessionDetached(session: Session, publishWill: boolean): void;
  /** What a CONNECT gets when its client id names an offline session of another user. */
  readonly foreignSession: ForeignSessionPolicy;
  /** Removes a session and everything it owns. */
  discardSession(session: Session, batch: CommitBatch): void;
  /** Connection bookkeeping for limits and stats. */
  connectionOpened(): void;
  connectionClosed(wasConnected: boolean): void;
}
