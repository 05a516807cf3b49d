/**
 * The one error type of the protocol layer. It carries the MQTT 5 reason code
 * that the broker sends (v5) or maps to a close (3.x) when it ends the connection.
 *
 * @module
 */
import { Reason } from "./packet.ts";

/**
 * A violation of the protocol by the peer: ends that one connection, never the broker.
 *
 * @example
 * ```ts
 * import { ProtocolError, Reason } from "../mod.ts";
 * const err = new ProtocolError(Reason.MalformedPacket, "remaining length too long");
 * console.log(err.reasonCode, err.message);
 * ```
 */
export class ProtocolError extends Error {
  /** The v5 reason code to report: 0x81 Malformed Packet, 0x82 Protocol Error, 0x95 Packet Too Large, ... */
  readonly reasonCode: number;

  /** An error with the reason code to report and a message for the logs. */
  constructor(reasonCode: number, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.reasonCode = reasonCode;
  }
}

/**
 * A PUBLISH that is well formed but over a limit of the receiver (0x97 Quota exceeded): the
 * connection can go on, and a QoS 1/2 publisher can be told with a PUBACK/PUBREC reason code
 * rather than by a disconnect. Uncaught, it still ends the connection like any ProtocolError.
 */
export class PublishRefused extends ProtocolError {
  /** What was decoded before the limit was reached: enough to acknowledge the packet. */
  readonly packet: { topic: string; qos: 0 | 1 | 2; packetId: number | undefined };

  constructor(cause: ProtocolError, packet: PublishRefused["packet"]) {
    super(cause.reasonCode, cause.message);
    this.name = "PublishRefused";
    this.packet = packet;
  }
}

/** Builds a {@link ProtocolError}; reads well at a `throw` site. */
export function protocolError(reasonCode: number, message: string): ProtocolError {
  return new ProtocolError(reasonCode, message);
}

/** Shorthand for the most common failure, 0x81 Malformed Packet. */
export function malformed(message: string): ProtocolError {
  return new ProtocolError(Reason.MalformedPacket, message);
}
