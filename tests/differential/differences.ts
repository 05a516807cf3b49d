/**
 * Every difference from Mosquitto 2.0.11 that a differential scenario may show,
 * with the reason. A scenario names the entry in `expectDifference`; the
 * conformance generator (tests/_helpers/conformance.ts) renders this catalogue
 * into docs/conformance.md, "Where we differ from Mosquitto, and why", so the
 * page lists exactly the differences the tests allow.
 *
 * Kinds: `deliberate` (a documented choice of this broker), `mosquitto` (Mosquitto
 * departs from the specification; the statement is named), `pending` (another
 * change in progress reconciles it; the reason starts with the issue).
 *
 * @module
 */

export interface Difference {
  kind: "deliberate" | "mosquitto" | "pending";
  /** One line: what differs. */
  title: string;
  /** Why this broker does what it does, and why users are better served by it. */
  reason: string;
}

export const DIFFERENCES = {
  "advertised-maximum-packet-size": {
    kind: "deliberate",
    title: "A v5 CONNACK advertises Maximum Packet Size 64 MiB by default",
    reason: "Packets still arriving share one broker-wide budget (limits.max_partial_packet_bytes, 64 MiB " +
      "by default), so a packet larger than that can never be received; this broker advertises the " +
      "smaller of mqtt.max_packet_size and that budget, so a client learns the limit from the CONNACK " +
      "instead of being disconnected for a packet it was allowed to send. Mosquitto has no such budget and " +
      "advertises nothing unless max_packet_size is set. Every other scenario sets 64 MiB for both brokers.",
  },
  "takeover-disconnect": {
    kind: "mosquitto",
    title: "A v5 client whose session is taken over is told so with DISCONNECT 0x8E",
    reason: "[MQTT-3.1.4-3] says the server sends the existing client a DISCONNECT with reason 0x8E " +
      "(Session taken over) before closing its connection. Mosquitto 2.0.11 closes it without one; this " +
      "broker sends it, so the displaced client can tell a takeover (another instance with its id: " +
      "reconnecting would fight it) from a network failure (reconnect at once).",
  },
  "overlap-one-copy": {
    kind: "deliberate",
    title: "Overlapping subscriptions of one v5 client get one copy of a message",
    reason: "When several subscriptions of one client match a message, this broker sends it once, at the " +
      "highest QoS granted, carrying every matching Subscription Identifier; Mosquitto sends one copy per " +
      "subscription. MQTT 5.0 allows both (it requires the maximum QoS and, for a single copy, all the " +
      "identifiers, and permits further copies). One copy halves the traffic and spares the application " +
      "from deduplicating what it subscribed to twice.",
  },
  "overlap-3-qos": {
    kind: "mosquitto",
    title: "3.1.1: overlapping subscriptions deliver at the highest QoS granted",
    reason: "[MQTT-3.3.5-1] requires a message matching several subscriptions of one 3.1.1 client to be " +
      "delivered respecting the maximum QoS of all of them. Mosquitto 2.0.11 delivers a single copy at the " +
      "QoS of one subscription (QoS 0 where a QoS 1 subscription also matched); this broker delivers it once " +
      "at the highest QoS, so a QoS 1 subscription never silently loses its guarantee.",
  },
  "pubrec-no-subscribers": {
    kind: "deliberate",
    title: "PUBREC 0x10 (No matching subscribers) for a QoS 2 message nobody subscribes to",
    reason:
      "MQTT 5.0 lets the server answer 0x10 instead of 0x00 when it knows there are no subscribers, in " +
      "PUBACK and in PUBREC. Mosquitto does it for QoS 1 only; this broker does it for both, so a publisher " +
      "learns the same thing whichever QoS it uses. A subscription that matched counts as a subscriber even " +
      "when its offline session could not take the message (see the QoS 0 downgrade scenario).",
  },
  "no-local-no-subscribers": {
    kind: "deliberate",
    title: "A message whose only matching subscription is its publisher's own No Local one gets 0x10",
    reason:
      "A No Local subscription does not take its own client's messages ([MQTT-3.8.3-3]), so when it is " +
      "the only match this broker answers the publisher 0x10 (No matching subscribers): the message reaches " +
      "nobody. Mosquitto answers 0x00.",
  },
  "receive-maximum-exceeded": {
    kind: "mosquitto",
    title: "More QoS 2 PUBLISHes than the Receive Maximum close the connection with 0x93",
    reason: "[MQTT-3.3.4-7]: a client must not exceed the server's Receive Maximum, and the specification " +
      "names the handling: DISCONNECT with 0x93 (Receive Maximum exceeded). Mosquitto 2.0.11 answers the " +
      "excess PUBLISH with PUBREC 0x97 (Quota exceeded) and keeps the connection; this broker follows the " +
      "specification, so a client with a flow-control bug finds out at once rather than losing messages.",
  },
  "keepalive-late": {
    kind: "mosquitto",
    title: "A silent client is disconnected at 1.5 × its keep-alive, not seconds later",
    reason:
      "[MQTT-3.1.2-24] (3.1.1; [MQTT-3.1.2-22] in 5.0): the server must disconnect a client it has not " +
      "heard from within 1.5 times the keep-alive. With a keep-alive of 1 s Mosquitto 2.0.11 disconnected " +
      "after 5–6 s (it checks keep-alives every few seconds); this broker within 1.5 s plus its 0.5 s sweep. " +
      "Scenarios that only need the outcome wait long enough for both.",
  },
  "keepalive-disconnect-reason": {
    kind: "deliberate",
    title: "A v5 client closed for a keep-alive timeout gets DISCONNECT 0x8D first",
    reason:
      "MQTT 5.0 lets the server send DISCONNECT with 0x8D (Keep Alive timeout) before closing; Mosquitto " +
      "just closes. Telling the client why (its pings are not getting through, or it set the keep-alive too " +
      "short) costs one packet.",
  },
  "server-keepalive-for-zero": {
    kind: "deliberate",
    title: "Keep-alive 0 stays 0 under the default max_keepalive",
    reason:
      "A v5 client that asks for no keep-alive (0) gets none from this broker while max_keepalive is at " +
      "its default, 65535 (no limit); with a lower max_keepalive it gets that value as Server Keep Alive, as " +
      "in Mosquitto. Mosquitto answers every keep-alive of 0 with Server Keep Alive 65535, which changes " +
      "nothing in practice but makes clients that honour it send a PINGREQ every 18 hours for nothing.",
  },
  "will-delay-session-end": {
    kind: "mosquitto",
    title: "A delayed will is published when the session ends, if that is sooner",
    reason:
      "MQTT 5.0 (3.1.3.2, Will Delay Interval): the will is published when the delay has passed or the " +
      "session has ended, whichever is first. With Session Expiry 0 the session ends with the connection, so " +
      "this broker publishes the will at once; Mosquitto 2.0.11 waits for the full will delay (measured: a " +
      "2 s delay, published after 3 s) although the session is gone.",
  },
  "dollar-publish-refused": {
    kind: "deliberate",
    title: "Clients may not publish to topics starting with $",
    reason: "Topics beginning with $ belong to the server ($SYS and its kind); this broker refuses client " +
      "PUBLISHes to them (v5: PUBACK/PUBREC 0x87; QoS 0 and 3.1.1: dropped) so no client can forge broker " +
      "statistics or announcements. Mosquitto refuses only $SYS and accepts other $ topics.",
  },
  "invalid-filter-suback": {
    kind: "deliberate",
    title: "A topic filter that breaks the wildcard rules is refused in the SUBACK, not by closing",
    reason: "A filter such as a/#/b breaks the rules of [MQTT-4.7.1-1] [MQTT-4.7.1-2] (and [MQTT-4.8.2-1] " +
      "[MQTT-4.8.2-2] for $share filters) but parses as a packet. This broker refuses that filter alone " +
      "(v5 SUBACK 0x8F, 3.1.1 0x80) and grants the others of the same SUBSCRIBE; Mosquitto treats the whole " +
      "packet as malformed and closes the connection (v5: DISCONNECT 0x81). The client learns which filter " +
      "was wrong and keeps its other subscriptions.",
  },
  "wildcard-topic-name-reason": {
    kind: "deliberate",
    title: "A PUBLISH topic with a wildcard closes the connection with 0x90 (Topic Name invalid)",
    reason:
      "[MQTT-3.3.2-2] forbids wildcards in topic names; both brokers close the connection. This broker " +
      "gives the specific reason 0x90 (Topic Name invalid), Mosquitto the generic 0x82 (Protocol Error).",
  },
  "topic-alias-zero-reason": {
    kind: "deliberate",
    title: "Topic Alias 0 closes the connection with 0x94 (Topic Alias invalid)",
    reason:
      "[MQTT-3.3.2-8] forbids alias 0; both brokers close the connection. This broker uses the reason the " +
      "specification gives for alias errors, 0x94 (Topic Alias invalid); Mosquitto reports 0x81 (Malformed " +
      "Packet).",
  },
  "no-local-shared": {
    kind: "mosquitto",
    title: "No Local on a shared subscription is a protocol error",
    reason:
      "[MQTT-3.8.3-4]: setting No Local on a shared subscription is a Protocol Error; this broker closes " +
      "the connection with DISCONNECT 0x82. Mosquitto 2.0.11 grants the subscription.",
  },
  "shared-no-retained": {
    kind: "mosquitto",
    title: "A shared subscription does not receive retained messages when it is made",
    reason:
      "MQTT 5.0 (4.8.2, Shared Subscriptions) does not send retained messages to a shared subscription " +
      "when it is made: a retained message delivered to every member on joining would break the group's " +
      "one-member-per-message contract. Mosquitto 2.0.11 sends them.",
  },
  "client-receive-maximum": {
    kind: "mosquitto",
    title: "Never more unacknowledged QoS 1/2 messages to a client than its Receive Maximum",
    reason: "[MQTT-3.3.4-9]: the server must not send more unacknowledged QoS 1 and 2 PUBLISHes than the " +
      "client's Receive Maximum. With a Receive Maximum of 2, Mosquitto 2.0.11 sent two, then, once both " +
      "were acknowledged, three at once; this broker sends two, and one more per acknowledgement. A " +
      "constrained client that sized its buffers by its Receive Maximum is not overrun.",
  },
  "bad-credentials-code": {
    kind: "deliberate",
    title: "A wrong password or unknown user gets 0x86 (v5) / 0x04 (3.1.1), not 'not authorized'",
    reason:
      "Both brokers refuse the connection. This broker answers wrong credentials with Bad User Name or " +
      "Password (v5 0x86, 3.1.1 return code 4) and keeps Not Authorized (0x87 / 5) for a client that may not " +
      "connect at all (anonymous access off, a banned address), as most brokers and client libraries read " +
      "the codes; Mosquitto answers both cases with Not Authorized. A user who mistyped a password is told " +
      "so; the answer reveals nothing more, since unknown users and wrong passwords get the same code.",
  },
  "protocol-error-disconnect": {
    kind: "deliberate",
    title: "A v5 protocol error is answered with DISCONNECT 0x82 before the connection closes",
    reason: "[MQTT-4.13.1-1]: on a protocol error the server closes the connection and should first send " +
      "DISCONNECT with the reason code. This broker does for every protocol error; Mosquitto does for " +
      "malformed packets (0x81) but closes without a word after a second CONNECT or a server-only packet " +
      "from the client, which leaves the client guessing.",
  },
  "second-connect-will": {
    kind: "mosquitto",
    title: "After a second CONNECT, the will of the first is published",
    reason:
      "A second CONNECT is a protocol error ([MQTT-3.1.0-2]) and closes the connection abnormally, so " +
      "the will given in the first CONNECT is published ([MQTT-3.1.2-8]), as both brokers do for other " +
      "protocol errors. Mosquitto 2.0.11 publishes no will after a second CONNECT (3.1.1 and 5.0): it " +
      "appears to take the will of the refused packet (none) before closing.",
  },
  "unsubscribe-empty-reason": {
    kind: "mosquitto",
    title: "An UNSUBSCRIBE without a topic filter is a protocol error (0x82)",
    reason:
      "[MQTT-3.10.3-2] names an UNSUBSCRIBE without payload a Protocol Error; this broker closes with " +
      "DISCONNECT 0x82, Mosquitto with 0x81 (Malformed Packet). Both close the connection.",
  },
  "client-subscription-identifier": {
    kind: "mosquitto",
    title: "A PUBLISH from a client carrying a Subscription Identifier is a protocol error",
    reason: "[MQTT-3.3.4-6]: a client must not send a Subscription Identifier in PUBLISH. This broker " +
      "closes the connection with DISCONNECT 0x82; Mosquitto 2.0.11 accepts the message. Enforcing it " +
      "keeps a client from making a message look as if it had matched some subscription.",
  },
  "pubcomp-unknown-id": {
    kind: "deliberate",
    title: "PUBREL for a packet id not in flight gets PUBCOMP 0x92 (Packet Identifier not found)",
    reason:
      "MQTT 5.0 gives PUBCOMP the reason 0x92 for a packet identifier the receiver does not know, which " +
      "tells the client that its session state and the server's disagree; Mosquitto answers 0x00. Both " +
      "complete the exchange and keep the connection.",
  },
  "acl-subscribe-refused": {
    kind: "deliberate",
    title: "ACL: a SUBSCRIBE that could never deliver anything is refused in the SUBACK",
    reason: "With the same acl_file, Mosquitto 2.0.11 grants every subscription (SUBACK with the requested " +
      "QoS), even one the client may read nothing of (an anonymous client's alice/#, an exact subscription " +
      "to a denied topic, a wildcard client id's clients/+/# under a %c pattern), and then withholds every " +
      "message at delivery. Both brokers deliver exactly the same messages; this broker refuses such a " +
      "subscription (v5 0x87, 3.1.1 0x80) when no read grant intersects the filter or a deny covers all of " +
      "it, so a client learns at once that it subscribed to nothing instead of waiting for messages that " +
      "never come. A publisher then also sees 0x10 (no matching subscribers) where Mosquitto says 0x00.",
  },
  "session-owned-by-user": {
    kind: "deliberate",
    title: "A session belongs to the user that created it: another user presenting its client id is refused",
    reason: "Mosquitto 2.0.11 lets any authenticated user resume or take over another user's session by " +
      "presenting its client id: bob gets alice's subscriptions and queued messages, and alice is " +
      "disconnected. This broker refuses bob with CONNACK 0x85 (3.1.1: return code 2) and leaves alice's " +
      "session alone (auth.foreign_session: discard gives bob a fresh session instead, never alice's), so a " +
      "user cannot read another user's messages by guessing a client id (docs/security.md).",
  },
} as const satisfies Record<string, Difference>;

export type DifferenceId = keyof typeof DIFFERENCES;

const KIND_LABEL = { deliberate: "deliberate", mosquitto: "Mosquitto bug", pending: "pending" } as const;

/** The catalogue as Markdown, for docs/conformance.md. */
export function renderDifferences(used: Map<string, string[]>): string {
  const entries = Object.entries(DIFFERENCES) as [string, Difference][];
  if (entries.length === 0) return "No scenario differs.";
  return entries.map(([id, d]) => {
    const scenarios = (used.get(id) ?? []).map((s) => `"${s}"`).join(", ");
    return `- **${d.title}** (\`${id}\`, ${KIND_LABEL[d.kind]}). ${d.reason}` +
      (scenarios === "" ? "" : ` Scenarios: ${scenarios}.`);
  }).join("\n");
}
