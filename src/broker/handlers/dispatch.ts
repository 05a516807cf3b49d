/**
 * Which handler takes which packet once CONNECT has been read: one table by packet
 * type, built once, so a packet costs one lookup and no closure. (The first packet
 * goes to CONNECT's handler from the connection, which decodes it.)
 *
 * @module
 */
import { ProtocolError } from "../../protocol/errors.ts";
import { type Packet, PacketType, Reason } from "../../protocol/packet.ts";
import type { ClientContext } from "../client_context.ts";
import type { CommitBatch } from "../commit_batch.ts";
import { handleAuth } from "./auth.ts";
import { handleDisconnect, handlePing } from "./control.ts";
import { handleOutboundAck } from "./outbound_ack.ts";
import { handlePublish, handlePubrel } from "./publish.ts";
import { handleSubscribe, handleUnsubscribe } from "./subscribe.ts";

/** A handler of one packet type. */
export type Handler<P extends Packet = Packet> = (
  ctx: ClientContext,
  packet: P,
  batch: CommitBatch,
) => Promise<void> | void;

type HandlerTable = { readonly [T in Packet["type"]]: Handler<Extract<Packet, { type: T }>> };

/** [MQTT-3.1.0-2] a second CONNECT is a protocol violation. */
function secondConnect(): never {
  throw new ProtocolError(Reason.ProtocolError, "second CONNECT on one connection");
}

/** CONNACK, SUBACK, UNSUBACK and PINGRESP only flow from server to client. */
function serverOnly(_ctx: ClientContext, packet: Packet): never {
  throw new ProtocolError(Reason.ProtocolError, `packet type ${packet.type} is not sent by clients`);
}

const HANDLERS: HandlerTable = {
  [PacketType.CONNECT]: secondConnect,
  [PacketType.CONNACK]: serverOnly,
  [PacketType.PUBLISH]: handlePublish,
  [PacketType.PUBACK]: handleOutboundAck,
  [PacketType.PUBREC]: handleOutboundAck,
  [PacketType.PUBREL]: handlePubrel,
  [PacketType.PUBCOMP]: handleOutboundAck,
  [PacketType.SUBSCRIBE]: handleSubscribe,
  [PacketType.SUBACK]: serverOnly,
  [PacketType.UNSUBSCRIBE]: handleUnsubscribe,
  [PacketType.UNSUBACK]: serverOnly,
  [PacketType.PINGREQ]: handlePing,
  [PacketType.PINGRESP]: serverOnly,
  [PacketType.DISCONNECT]: handleDisconnect,
  [PacketType.AUTH]: handleAuth,
};

/** Hands a decoded packet to its handler. */
export function dispatch(ctx: ClientContext, packet: Packet, batch: CommitBatch): Promise<void> | void {
  if (ctx.phase === "connecting" && packet.type !== PacketType.AUTH) {
    // Until the CONNACK only the authentication exchange may continue.
    throw new ProtocolError(Reason.ProtocolError, "packet before the authentication completed");
  }
  // The table pairs each type with the handler of that packet (HandlerTable checks it): the
  // lookup by a packet's own type always finds the handler of its kind.
  return (HANDLERS[packet.type] as Handler)(ctx, packet, batch);
}
