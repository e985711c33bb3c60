/**
 * rx-tcp-hub/redis: hubs on many processes and machines, joined through Redis. Needs the optional
 * peer dependency `ioredis`; the core entry point never loads it.
 */
export {
  RedisBridge,
  RemoteConnection,
  DEFAULT_NAMESPACE,
  DEFAULT_OUTBOX_BYTES,
  DEFAULT_OUTBOX_MESSAGES,
  DEFAULT_PRESENCE_TTL_MS,
  DEFAULT_REDIS_URL,
  type BridgeOutcome,
  type BridgeState,
  type BridgeStats,
  type ClusterIncoming,
  type ClusterTarget,
  type RedisBridgeOptions,
  type RemoteDelivery,
} from './bridge.js';
export { ClusterView, type ClusterConnection, type ClusterEvent, type ClusterLeaveReason, type PresenceSnapshot } from './cluster-view.js';
export {
  HUB_ID_SEPARATOR,
  clusterIdPrefix,
  decodeEnvelope,
  encodeEnvelope,
  hubIdOf,
  newHubId,
  type Envelope,
  type EnvelopeKind,
} from './envelope.js';
export { Outbox, type Pending } from './outbox.js';
export { listenBridged, type BridgedOptions, type BridgedServer } from './listen.js';
export { RedisPeerTable, type RedisPeerTableOptions } from './peer-table.js';
export { runClusterServer, runWorkers, type ClusterPrimary, type ClusterServerOptions, type ClusterWorker, type StartedWorker, type WorkerOptions } from './cluster.js';
export { takeScaleFlags, type ScaleFlags } from './cli-flags.js';
export { runScaledServer, runScaledTracker, type Print } from './cli.js';
