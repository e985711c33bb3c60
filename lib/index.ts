/** rx-tcp-hub: many TCP connections, managed reactively with RxJS, in the seed's wire format. */
export * from './errors.js';
export * from './protocol/index.js';
export * from './connection/close-reason.js';
export {
  Messenger,
  DEFAULT_LINGER_MS,
  DEFAULT_MAX_INBOX_BYTES,
  DEFAULT_MAX_QUEUE_BYTES,
  type MessengerOptions,
  type Target,
  type Transport,
  type WriteCallback,
} from './connection/messenger.js';
export * from './hub/operators.js';
export {
  Hub,
  isOpened,
  isClosed,
  type ConnectionOpened,
  type ConnectionClosed,
  type HubOptions,
  type ConnectionEvent,
  type ConnectionRef,
  type Incoming,
  type SendOptions,
} from './hub/hub.js';
export { Server, type ServerOptions } from './hub/server.js';
export { Client, DEFAULT_CONNECT_TIMEOUT_MS, type ClientOptions, type DialEvent } from './hub/client.js';
