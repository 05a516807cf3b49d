/**
 * MQTT control packet types, protocol levels, reason codes and the typed packet
 * objects that the codecs produce and consume. One set of types serves all three
 * protocol levels: fields that exist only in MQTT 5 are optional and ignored when
 * encoding for 3.1 / 3.1.1.
 *
 * @module
 */

/** Control packet type, the high nibble of the first byte of the fixed header. */
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
export type PacketType = typeof PacketType[keyof typeof PacketType];

/** The protocol level byte of CONNECT: 3 = MQTT 3.1, 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
export const ProtocolLevel = {
  V3_1: 3,
  V3_1_1: 4,
  V5: 5,
} as const;
export type ProtocolLevel = typeof ProtocolLevel[keyof typeof ProtocolLevel];

export type QoS = 0 | 1 | 2;

/** MQTT 5 reason codes (also used internally for 3.x, then mapped to return codes). */
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
export type ConnackReturnCode = typeof ConnackReturnCode[keyof typeof ConnackReturnCode];

/** SUBACK failure return code of MQTT 3.1.1. */
export const SubackFailureV4 = 0x80;

/** MQTT 5 properties, by name. Absent means "not present on the wire". */
export interface Properties {
  payloadFormatIndicator?: number;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Uint8Array;
  /** Several in PUBLISH (one per matching subscription), at most one in SUBSCRIBE. */
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Uint8Array;
  requestProblemInformation?: number;
  willDelayInterval?: number;
  requestResponseInformation?: number;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: number;
  retainAvailable?: number;
  /** Name/value pairs, in wire order; names may repeat. */
  userProperties?: [string, string][];
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: number;
  subscriptionIdentifiersAvailable?: number;
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
 */
export interface Frame {
  /** Packet type in the high nibble, flags in the low nibble. */
  readonly header: number;
  /** The buffer the body lies in. Valid only until the next read into the same buffer. */
  readonly bytes: Uint8Array;
  readonly start: number;
  readonly end: number;
  /** The body as a view of `bytes`. */
  readonly body: Uint8Array;
}
