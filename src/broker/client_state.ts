/**
 * One client's protocol state, as its CONNECT and later packets set it: the
 * protocol level and identity, the limits both sides announced, topic aliases,
 * flow-control counters, and the authentication in progress. The connection owns
 * it; the packet handlers keep it (client_context.ts). Nothing here does I/O.
 *
 * @module
 */
import type { ProtocolLevel } from "../protocol/packet.ts";
import { PROTOCOL_MAX_PACKET_SIZE } from "../protocol/frame_stream.ts";
import type { AuthConversation } from "./enhanced_auth.ts";
import type { ConnectAttempt } from "./handlers/connect_attempt.ts";
import type { Session } from "./session.ts";
import type { InboundAliases, OutboundAliases } from "./topic_alias.ts";

export class ClientState {
  /** The protocol level of CONNECT; 4 until one is read. */
  level: ProtocolLevel = 4;
  /** The client identifier, assigned by the server when the client sent none. */
  clientId = "";
  /** The identity the session belongs to (session_owner.ts), known once authenticated. */
  username: string | undefined = undefined;
  /** The session this connection serves, once CONNECT attached one. */
  session: Session | null = null;
  /** Seconds; 0 disables the keep-alive check. */
  keepAlive = 0;
  /** The client's Maximum Packet Size (v5), else the protocol maximum. */
  maxPacketSize: number = PROTOCOL_MAX_PACKET_SIZE;
  /** How many QoS 1/2 PUBLISH may be in flight to the client (its Receive Maximum). */
  sendWindow = 65535;
  /** Outbound topic aliases, when the client allows them (v5). */
  aliases: OutboundAliases | null = null;
  /** Inbound topic aliases (v5). */
  inboundAliases: InboundAliases | null = null;
  /** QoS 1/2 PUBLISH received and not yet acknowledged (v5 Receive Maximum accounting). */
  inboundUnacked = 0;
  /** v5 Request Problem Information: false means no Reason String / User Properties on errors. */
  problemInformation = true;
  /** Set once a successful CONNACK went out (it waits for the session's commit). */
  connackSent = false;
  /** Set when the client sent DISCONNECT: the will is not published [MQTT-3.1.2-10]. */
  normalDisconnect = false;
  /** Set by DISCONNECT 0x04: publish the will although the disconnect is normal. */
  willOnDisconnect = false;
  /**
   * A 3.x bridge that set the bridge bit (0x80) in its protocol level: its subscriptions act
   * as No Local and Retain As Published, which 3.x cannot ask for, so that it gets nothing back
   * of what it forwarded (Mosquitto's meaning of the bit).
   */
  bridge = false;
  /** Inbound publish rate accounting (limits.messageRate): the current one-second window. */
  rateWindowStart = 0;
  rateCount = 0;
  /** A CONNECT waiting for the client's next AUTH in its enhanced authentication exchange. */
  pendingConnect: ConnectAttempt | null = null;
  /** The Authentication Method this connection authenticated with, if any. */
  authMethod: string | undefined = undefined;
  /** A re-authentication exchange in progress. */
  reauth: (AuthConversation & { done: false }) | null = null;

  #identity: { readonly clientId: string; readonly username: string | undefined } | null = null;

  /**
   * The client as an authorizer is asked about it: its id and user name, one object for as
   * long as they stay the same (asked once per PUBLISH).
   */
  get identity(): { readonly clientId: string; readonly username: string | undefined } {
    const known = this.#identity;
    if (known !== null && known.clientId === this.clientId && known.username === this.username) return known;
    return this.#identity = { clientId: this.clientId, username: this.username };
  }

  /** Whether the will is published when the connection ends: unless the client said goodbye without 0x04. */
  get publishesWill(): boolean {
    return !this.normalDisconnect || this.willOnDisconnect;
  }
}
