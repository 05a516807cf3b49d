/**
 * Cluster mode on NATS JetStream (`@deno-mqtt/broker/cluster`): a node's connection
 * to the NATS servers, the store its sessions and retained messages live in (a
 * ClaimingStore on JetStream KV), and the link that joins a broker to the other nodes
 * (docs/cluster.md). The server
 * program loads this only when `cluster.nats.servers` is configured; embedders import it
 * to run a node of their own.
 *
 * @module
 */

export { ClusterNode, type ClusterOptions } from "./cluster/cluster.ts";
