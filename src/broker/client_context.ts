/**
 * What a packet handler is given: the client's protocol state to keep, the
 * engine, and the few things it may ask of the connection (send, close, attach a
 * session). The connection implements it, so handing it to a handler costs
 * nothing; handlers never see the Connection class, which keeps its lifecycle
 * (phase, timers, commit chain) to itself.
 *
 * @module
 */
import type { AckPacket, Packet } from "../protocol/packet.ts";
import type { Socket } from "../transport/socket.ts";
import type { ClientState } from "./client_state.ts";
import type { BrokerContext } from "./context.ts";
import type { HookClient } from "./hooks.ts";
import type { Session } from "./session.ts";

/** Where a connection is in its life: before CONNECT, authenticating, serving, or ended. */
export type ConnectionPhase = "awaiting_connect" | "connecting" | "connected" | "closed";

/** What handlers may read of the transport: where the client is, never the bytes. */
export type ClientPeer = Pick<Socket, "remoteAddress" | "listener" | "identity" | "internal">;

export interface ClientContext {
  /** The client's protocol state; the handlers keep it. */
  readonly state: ClientState;
  /** The engine: sessions, routing, authorisation, hooks, limits. */
  readonly engine: BrokerContext;
  readonly socket: ClientPeer;
  readonly phase: ConnectionPhase;
  /** Encodes and sends a packet at the client's protocol level, within its Maximum Packet Size. */
  send(packet: Packet): void;
  /**
   * Sends PUBACK, PUBREC, PUBREL or PUBCOMP (the common ones without an allocation). The
   * packet is encoded before this returns and not kept: callers may reuse the object.
   */
  sendAck(packet: AckPacket): void;
  /**
   * Closes from the broker side: a v5 client past its CONNACK is told `reason` first
   * (0 closes without a DISCONNECT); the will is published unless the client said goodbye.
   */
  close(reason: number, why: string): void;
  /** Makes this connection the one `session` delivers through. */
  attach(session: Session): void;
  /** CONNECT accepted: the connection serves the client and its keep-alive is watched. */
  established(): void;
  /** (Re)starts the connect timeout while an authentication exchange waits for the client. */
  armConnectTimer(): void;
}

/** The client as hooks are told of it. */
export function hookClient(ctx: ClientContext): HookClient {
  const state = ctx.state;
  return {
    clientId: state.clientId,
    username: state.username,
    remoteAddress: ctx.socket.remoteAddress,
    protocolLevel: state.level,
  };
}
