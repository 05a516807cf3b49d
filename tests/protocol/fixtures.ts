/**
 * Annotated byte fixtures, written from the specification's packet layouts:
 * one or more per control packet type, with the packet they decode to.
 */
import { type Packet, PacketType, type ProtocolLevel } from "../../src/protocol/packet.ts";

export interface Fixture {
  name: string;
  level: ProtocolLevel;
  bytes: number[];
  packet: Packet;
}

const te = new TextEncoder();

export const fixtures: Fixture[] = [
  {
    name: "CONNECT 3.1.1, clean session, keep-alive 60, client id 'c1'",
    level: 4,
    bytes: [
      0x10,
      0x0e, //                          CONNECT, remaining length 14
      0x00,
      0x04,
      0x4d,
      0x51,
      0x54,
      0x54, //  protocol name "MQTT"
      0x04, //                                protocol level 4
      0x02, //                                connect flags: clean session
      0x00,
      0x3c, //                          keep alive 60
      0x00,
      0x02,
      0x63,
      0x31, //              client id "c1"
    ],
    packet: {
      type: PacketType.CONNECT,
      protocolName: "MQTT",
      protocolLevel: 4,
      clean: true,
      keepAlive: 60,
      clientId: "c1",
    },
  },
  {
    name: "CONNECT 3.1 (MQIsdp), user name and password",
    level: 3,
    bytes: [
      0x10,
      0x16, //                                      CONNECT, remaining length 22
      0x00,
      0x06,
      0x4d,
      0x51,
      0x49,
      0x73,
      0x64,
      0x70, //  "MQIsdp"
      0x03, //                                            level 3
      0xc2, //                                            flags: user name, password, clean
      0x00,
      0x0a, //                                      keep alive 10
      0x00,
      0x01,
      0x78, //                                client id "x"
      0x00,
      0x01,
      0x75, //                                user name "u"
      0x00,
      0x02,
      0x70,
      0x77, //                          password "pw"
    ],
    packet: {
      type: PacketType.CONNECT,
      protocolName: "MQIsdp",
      protocolLevel: 3,
      clean: true,
      keepAlive: 10,
      clientId: "x",
      username: "u",
      password: te.encode("pw"),
    },
  },
  {
    name: "CONNECT 5.0 with session expiry and a will with a delay",
    level: 5,
    bytes: [
      0x10,
      0x20, //                          CONNECT, remaining length 32
      0x00,
      0x04,
      0x4d,
      0x51,
      0x54,
      0x54, //  "MQTT"
      0x05, //                                level 5
      0x0e, //                                flags: will QoS 1, will, clean start
      0x00,
      0x1e, //                          keep alive 30
      0x05,
      0x11,
      0x00,
      0x00,
      0x00,
      0x3c, //  properties (5): session expiry 60
      0x00,
      0x01,
      0x61, //                    client id "a"
      0x05,
      0x18,
      0x00,
      0x00,
      0x00,
      0x05, //  will properties (5): will delay 5
      0x00,
      0x01,
      0x77, //                    will topic "w"
      0x00,
      0x02,
      0x6f,
      0x66, //              will payload "of"
    ],
    packet: {
      type: PacketType.CONNECT,
      protocolName: "MQTT",
      protocolLevel: 5,
      clean: true,
      keepAlive: 30,
      clientId: "a",
      properties: { sessionExpiryInterval: 60 },
      will: {
        topic: "w",
        payload: te.encode("of"),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 5 },
      },
    },
  },
  {
    name: "CONNACK 3.1.1, session present, accepted",
    level: 4,
    bytes: [0x20, 0x02, 0x01, 0x00], // CONNACK, length 2, session present, return code 0
    packet: { type: PacketType.CONNACK, sessionPresent: true, reasonCode: 0 },
  },
  {
    name: "CONNACK 5.0 with Assigned Client Identifier",
    level: 5,
    bytes: [
      0x20,
      0x08, //                    CONNACK, remaining length 8
      0x00,
      0x00, //                    no session, success
      0x05,
      0x12,
      0x00,
      0x02,
      0x69,
      0x64, // properties (5): assigned client id "id"
    ],
    packet: {
      type: PacketType.CONNACK,
      sessionPresent: false,
      reasonCode: 0,
      properties: { assignedClientIdentifier: "id" },
    },
  },
  {
    name: "PUBLISH 3.1.1 QoS 1, retain, topic 'a/b', id 10",
    level: 4,
    bytes: [
      0x33,
      0x09, //                    PUBLISH, QoS 1, retain; remaining length 9
      0x00,
      0x03,
      0x61,
      0x2f,
      0x62, //  topic "a/b"
      0x00,
      0x0a, //                    packet id 10
      0x68,
      0x69, //                    payload "hi"
    ],
    packet: {
      type: PacketType.PUBLISH,
      topic: "a/b",
      payload: te.encode("hi"),
      qos: 1,
      retain: true,
      dup: false,
      packetId: 10,
      properties: undefined,
    },
  },
  {
    name: "PUBLISH 5.0 QoS 0 with a topic alias",
    level: 5,
    bytes: [
      0x30,
      0x08, //                    PUBLISH QoS 0, remaining length 8
      0x00,
      0x01,
      0x74, //              topic "t"
      0x03,
      0x23,
      0x00,
      0x07, //        properties (3): topic alias 7
      0x21, //                          payload "!"
    ],
    packet: {
      type: PacketType.PUBLISH,
      topic: "t",
      payload: te.encode("!"),
      qos: 0,
      retain: false,
      dup: false,
      packetId: undefined,
      properties: { topicAlias: 7 },
    },
  },
  {
    name: "PUBACK 3.1.1 id 10",
    level: 4,
    bytes: [0x40, 0x02, 0x00, 0x0a],
    packet: { type: PacketType.PUBACK, packetId: 10, reasonCode: 0 },
  },
  {
    name: "PUBREC 5.0 id 5 with reason 0x10",
    level: 5,
    bytes: [0x50, 0x03, 0x00, 0x05, 0x10],
    packet: { type: PacketType.PUBREC, packetId: 5, reasonCode: 0x10 },
  },
  {
    name: "PUBREL id 5 (flags 0010)",
    level: 4,
    bytes: [0x62, 0x02, 0x00, 0x05],
    packet: { type: PacketType.PUBREL, packetId: 5, reasonCode: 0 },
  },
  {
    name: "PUBCOMP 5.0 id 5, short form",
    level: 5,
    bytes: [0x70, 0x02, 0x00, 0x05],
    packet: { type: PacketType.PUBCOMP, packetId: 5, reasonCode: 0 },
  },
  {
    name: "SUBSCRIBE 3.1.1 'a/#' QoS 1",
    level: 4,
    bytes: [
      0x82,
      0x08, //                    SUBSCRIBE (flags 0010), remaining length 8
      0x00,
      0x01, //                    packet id 1
      0x00,
      0x03,
      0x61,
      0x2f,
      0x23, //  filter "a/#"
      0x01, //                          QoS 1
    ],
    packet: {
      type: PacketType.SUBSCRIBE,
      packetId: 1,
      subscriptions: [{ filter: "a/#", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    },
  },
  {
    name: "SUBSCRIBE 5.0 with options and a subscription identifier",
    level: 5,
    bytes: [
      0x82,
      0x09, //              SUBSCRIBE, remaining length 9
      0x00,
      0x02, //              packet id 2
      0x02,
      0x0b,
      0x07, //        properties (2): subscription identifier 7
      0x00,
      0x01,
      0x78, //        filter "x"
      0x2e, //                    options: retain handling 2, RAP, No Local, QoS 2
    ],
    packet: {
      type: PacketType.SUBSCRIBE,
      packetId: 2,
      properties: { subscriptionIdentifiers: [7] },
      subscriptions: [{ filter: "x", qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2 }],
    },
  },
  {
    name: "SUBACK 3.1.1 granted 1 and failure",
    level: 4,
    bytes: [0x90, 0x04, 0x00, 0x01, 0x01, 0x80],
    packet: { type: PacketType.SUBACK, packetId: 1, reasonCodes: [1, 0x80] },
  },
  {
    name: "UNSUBSCRIBE 'a'",
    level: 4,
    bytes: [0xa2, 0x05, 0x00, 0x03, 0x00, 0x01, 0x61],
    packet: { type: PacketType.UNSUBSCRIBE, packetId: 3, filters: ["a"] },
  },
  {
    name: "UNSUBACK 3.1.1",
    level: 4,
    bytes: [0xb0, 0x02, 0x00, 0x03],
    packet: { type: PacketType.UNSUBACK, packetId: 3, reasonCodes: [] },
  },
  {
    name: "UNSUBACK 5.0 with 0x11",
    level: 5,
    bytes: [0xb0, 0x04, 0x00, 0x03, 0x00, 0x11],
    packet: { type: PacketType.UNSUBACK, packetId: 3, reasonCodes: [0x11] },
  },
  { name: "PINGREQ", level: 4, bytes: [0xc0, 0x00], packet: { type: PacketType.PINGREQ } },
  { name: "PINGRESP", level: 4, bytes: [0xd0, 0x00], packet: { type: PacketType.PINGRESP } },
  {
    name: "DISCONNECT 3.1.1",
    level: 4,
    bytes: [0xe0, 0x00],
    packet: { type: PacketType.DISCONNECT, reasonCode: 0 },
  },
  {
    name: "DISCONNECT 5.0 0x04 with will",
    level: 5,
    bytes: [0xe0, 0x02, 0x04, 0x00],
    packet: { type: PacketType.DISCONNECT, reasonCode: 0x04 },
  },
  {
    name: "AUTH 5.0 continue with a method",
    level: 5,
    bytes: [
      0xf0,
      0x09, //                          AUTH, remaining length 9
      0x18, //                                continue authentication
      0x07,
      0x15,
      0x00,
      0x04,
      0x53,
      0x43,
      0x52,
      0x4d, // properties (7): method "SCRM"
    ],
    packet: { type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: "SCRM" } },
  },
];
