/**
 * MQTT control packet types, protocol levels, reason codes and the typed packet
 * objects that the codecs produce and consume. One set of types serves all three
 * protocol levels: fields that exist only in MQTT 5 are optional and ignored when
 * encoding for 3.1 / 3.1.1.
 *
 * @module
 */

/**
 * Control packet type, the high nibble of the first byte of the fixed header.
 *
 * @example
 * ```ts
 * import { PacketType } from "../mod.ts";
 * console.log(PacketType.PUBLISH); // 3
 * ```
 */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15,
} as const;
/**
 * One of the {@link PacketType} values.
 *
 * @example
 * ```ts
 * import { PacketType } from "../mod.ts";
 * const type: PacketType = PacketType.SUBSCRIBE;
 * console.log(type);
 * ```
 */
export type PacketType = typeof PacketType[keyof typeof PacketType];

/**
 * The protocol level byte of CONNECT: 3 = MQTT 3.1, 4 = MQTT 3.1.1, 5 = MQTT 5.0.
 *
 * @example
 * ```ts
 * import { ProtocolLevel } from "../mod.ts";
 * console.log(ProtocolLevel.V5); // 5
 * ```
 */
export const ProtocolLevel = {
  V3_1: 3,
  V3_1_1: 4,
  V5: 5,
} as const;
/**
 * One of the {@link ProtocolLevel} values.
 *
 * @example
 * ```ts
 * import type { ProtocolLevel } from "../mod.ts";
 * const level: ProtocolLevel = 4; // MQTT 3.1.1
 * console.log(level);
 * ```
 */
export type ProtocolLevel = typeof ProtocolLevel[keyof typeof ProtocolLevel];

/**
 * Quality of service: 0 at most once, 1 at least once, 2 exactly once.
 *
 * @example
 * ```ts
 * import type { QoS } from "../mod.ts";
 * const qos: QoS = 1;
 * console.log(qos);
 * ```
 */
export type QoS = 0 | 1 | 2;

/**
 * MQTT 5 reason codes (also used internally for 3.x, then mapped to return codes).
 *
 * @example
 * ```ts
 * import { Reason } from "../mod.ts";
 * console.log(Reason.NotAuthorized.toString(16)); // 87
 * ```
 */
export const Reason = {
  Success: 0x00,
  NormalDisconnection: 0x00,
  GrantedQoS0: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWillMessage: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2,
} as const;
/** One of the {@link Reason} values. */
export type Reason = typeof Reason[keyof typeof Reason];

/** CONNACK return codes of MQTT 3.1 and 3.1.1. */
export const ConnackReturnCode = {
  Accepted: 0x00,
  UnacceptableProtocolVersion: 0x01,
  IdentifierRejected: 0x02,
  ServerUnavailable: 0x03,
  BadUserNameOrPassword: 0x04,
  NotAuthorized: 0x05,
} as const;
/** One of the {@link ConnackReturnCode} values. */
export type ConnackReturnCode = typeof ConnackReturnCode[keyof typeof ConnackReturnCode];

/** SUBACK failure return code of MQTT 3.1.1. */
export const SubackFailureV4 = 0x80;

/**
 * MQTT 5 properties, by name. Absent means "not present on the wire". Each carries the
 * meaning the MQTT 5.0 specification gives the property of that name (section 2.2.2.2).
 *
 * @example
 * ```ts
 * import { Broker, type Properties } from "../mod.ts";
 * const properties: Properties = { messageExpiryInterval: 60, userProperties: [["origin", "example"]] };
 * const broker = new Broker();
 * await broker.publish({ topic: "t", payload: "x", properties });
 * await broker.close();
 * ```
 */
export interface Properties {
  /** 0: unspecified bytes; 1: UTF-8 text. */
  payloadFormatIndicator?: number;
  /** Seconds after which an undelivered message is dropped. */
  messageExpiryInterval?: number;
  /** The payload's content type (e.g. a MIME type). */
  contentType?: string;
  /** Where a request's response should be published. */
  responseTopic?: string;
  /** Ties a response to its request. */
  correlationData?: Uint8Array;
  /** Several in PUBLISH (one per matching subscription), at most one in SUBSCRIBE. */
  subscriptionIdentifiers?: number[];
  /** Seconds a session outlives its connection (0xFFFFFFFF: never expires). */
  sessionExpiryInterval?: number;
  /** The client id the server assigned (CONNACK). */
  assignedClientIdentifier?: string;
  /** The keep-alive the server imposes (CONNACK). */
  serverKeepAlive?: number;
  /** The enhanced authentication method (CONNECT, CONNACK, AUTH). */
  authenticationMethod?: string;
  /** The data of an enhanced authentication step. */
  authenticationData?: Uint8Array;
  /** 0: no reason strings or user properties on failures (CONNECT). */
  requestProblemInformation?: number;
  /** Seconds the server waits before publishing the will (CONNECT will properties). */
  willDelayInterval?: number;
  /** 1: the client asks for response information (CONNECT). */
  requestResponseInformation?: number;
  /** A base for response topics (CONNACK). */
  responseInformation?: string;
  /** Another server to use (CONNACK, DISCONNECT). */
  serverReference?: string;
  /** A human-readable reason, for diagnostics only. */
  reasonString?: string;
  /** How many QoS 1/2 publications the sender accepts unacknowledged. */
  receiveMaximum?: number;
  /** The highest topic alias the sender accepts. */
  topicAliasMaximum?: number;
  /** A number standing for the topic on this connection. */
  topicAlias?: number;
  /** The highest QoS the server supports (CONNACK). */
  maximumQoS?: number;
  /** 0: retained messages are not supported (CONNACK). */
  retainAvailable?: number;
  /** Name/value pairs, in wire order; names may repeat. */
  userProperties?: [string, string][];
  /** The largest packet the sender accepts, in bytes. */
  maximumPacketSize?: number;
  /** 0: wildcard filters are not supported (CONNACK). */
  wildcardSubscriptionAvailable?: number;
  /** 0: subscription identifiers are not supported (CONNACK). */
  subscriptionIdentifiersAvailable?: number;
  /** 0: shared subscriptions are not supported (CONNACK). */
  sharedSubscriptionAvailable?: number;
}

/** The will message carried by CONNECT. */
export interface WillMessage {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** Will properties (MQTT 5 only). */
  properties?: Properties;
}

export interface ConnectPacket {
  type: typeof PacketType.CONNECT;
  /** "MQTT" for 3.1.1 and 5.0, "MQIsdp" for 3.1. */
  protocolName: string;
  protocolLevel: ProtocolLevel;
  /** Set when the protocol level byte carried the bridge bit 0x80 (Mosquitto bridges). */
  bridge?: boolean;
  /** Clean Session (3.x) or Clean Start (5.0). */
  clean: boolean;
  keepAlive: number;
  clientId: string;
  username?: string;
  password?: Uint8Array;
  will?: WillMessage;
  properties?: Properties;
}

export interface ConnackPacket {
  type: typeof PacketType.CONNACK;
  sessionPresent: boolean;
  /** A v5 reason code for level 5; a {@link ConnackReturnCode} for 3.x. */
  reasonCode: number;
  properties?: Properties;
}

export interface PublishPacket {
  type: typeof PacketType.PUBLISH;
  topic: string;
  /** A view: it may point into a read buffer that is reused after the handler returns. */
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Present when qos > 0. */
  packetId?: number;
  properties?: Properties;
}

/** PUBACK, PUBREC, PUBREL and PUBCOMP share one shape. */
export interface AckPacket {
  type:
    | typeof PacketType.PUBACK
    | typeof PacketType.PUBREC
    | typeof PacketType.PUBREL
    | typeof PacketType.PUBCOMP;
  packetId: number;
  /** Always 0 for 3.x; omitted on the wire in 5.0 when 0 and there are no properties. */
  reasonCode: number;
  properties?: Properties;
}

/** One topic filter of a SUBSCRIBE with its options. */
export interface SubscriptionRequest {
  filter: string;
  qos: QoS;
  /** MQTT 5 subscription options; false / 0 for 3.x. */
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: typeof PacketType.SUBSCRIBE;
  packetId: number;
  subscriptions: SubscriptionRequest[];
  properties?: Properties;
}

export interface SubackPacket {
  type: typeof PacketType.SUBACK;
  packetId: number;
  /** Granted QoS (0, 1, 2) or a failure code (0x80 for 3.1.1, a v5 reason code for 5.0). */
  reasonCodes: number[];
  properties?: Properties;
}

export interface UnsubscribePacket {
  type: typeof PacketType.UNSUBSCRIBE;
  packetId: number;
  filters: string[];
  properties?: Properties;
}

export interface UnsubackPacket {
  type: typeof PacketType.UNSUBACK;
  packetId: number;
  /** One per filter in 5.0; empty (and not encoded) for 3.x. */
  reasonCodes: number[];
  properties?: Properties;
}

export interface PingreqPacket {
  type: typeof PacketType.PINGREQ;
}

export interface PingrespPacket {
  type: typeof PacketType.PINGRESP;
}

export interface DisconnectPacket {
  type: typeof PacketType.DISCONNECT;
  /** 5.0 only; 0 (normal disconnection) for 3.x. */
  reasonCode: number;
  properties?: Properties;
}

export interface AuthPacket {
  type: typeof PacketType.AUTH;
  reasonCode: number;
  properties?: Properties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | AckPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

/**
 * One framed control packet: the first byte of the fixed header, and where the
 * variable header plus payload (the "remaining length" bytes) lie: `bytes[start, end)`.
 * The framer hands out offsets rather than a view per packet; `body` is the view, made
 * when something asks for it.
 *
 * @example
 * ```ts
 * import { type Frame, PacketType } from "../mod.ts";
 * const body = new Uint8Array(0);
 * const pingreq: Frame = { header: PacketType.PINGREQ << 4, bytes: body, start: 0, end: 0, body };
 * console.log(pingreq.header >> 4 === PacketType.PINGREQ);
 * ```
 */
export interface Frame {
  /** Packet type in the high nibble, flags in the low nibble. */
  readonly header: number;
  /** The buffer the body lies in. Valid only until the next read into the same buffer. */
  readonly bytes: Uint8Array;
  /** Where the body starts in `bytes`. */
  readonly start: number;
  /** Where the body ends in `bytes` (exclusive). */
  readonly end: number;
  /** The body as a view of `bytes`. */
  readonly body: Uint8Array;
}
