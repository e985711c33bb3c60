/**
 * rx-tcp-hub: many TCP connections, managed reactively with RxJS, in the seed's wire format.
 * The filer (tracker, peer, file transfer) is `rx-tcp-hub/filer`; test transports are
 * `rx-tcp-hub/testing`; the Redis bridge is `rx-tcp-hub/redis`.
 */
export * from './errors.js';
export * from './protocol/index.js';
export * from './connection/close-reason.js';
export {
  Messenger,
  DEFAULT_FRAME_TIMEOUT_MS,
  DEFAULT_LINGER_MS,
  DEFAULT_MAX_INBOX_BYTES,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_WRITE_TIMEOUT_MS,
  type MessengerOptions,
  type QueueFullPolicy,
  type Target,
  type Transport,
  type WriteCallback,
  type MessengerOwner,
} from './connection/messenger.js';
export { DEFAULT_KEEPALIVE_DELAY_MS } from './connection/options.js';
export {
  Activity,
  liveness,
  type LivenessOptions,
  type LivenessSignal,
  type LivenessTimeout,
  type WriteProgress,
} from './connection/liveness.js';
export { QueueBudget, type BudgetError, type BudgetHolder } from './connection/queue-budget.js';
export { DEFAULT_METRICS_INTERVAL_MS, sampleStats, type ConnectionStats } from './connection/metrics.js';
export * from './hub/operators.js';
export * from './hub/authenticate.js';
export { RefusalReason, sumStats, type HubStats } from './hub/hub-stats.js';
export {
  DEFAULT_AUTH_TIMEOUT_MS,
  DEFAULT_CONNECT_CHECK_MS,
  DEFAULT_FIRST_MESSAGE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_INBOUND_BYTES_TOTAL,
  DEFAULT_MAX_QUEUED_BYTES_TOTAL,
} from './hub/hub-options.js';
export {
  Hub,
  isOpened,
  isClosed,
  type ConnectionOpened,
  type ConnectionClosed,
  type ConnectionSide,
  type Hello,
  type HubOptions,
  type ConnectionEvent,
  type ConnectionRef,
  type Incoming,
  type SendOptions,
  type StopOptions,
} from './hub/hub.js';
export { DEFAULT_HANDSHAKE_TIMEOUT_MS, HandshakeRefusal, Server, type ServerOptions, type ServerStats } from './hub/server.js';
export {
  Client,
  DEFAULT_CONNECT_TIMEOUT_MS,
  type ClientOptions,
  type ConnectOptions,
  type DialEvent,
  type DialOptions,
} from './hub/client.js';
export * from './hub/reconnect.js';
export {
  ReconnectingConnection,
  type ConnectionState,
  type OfflineQueueOptions,
  type OfflineQueueStats,
  type ReconnectingOptions,
} from './hub/reconnecting-connection.js';
export type { HandshakeFailure } from './hub/tls.js';
