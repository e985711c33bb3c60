/**
 * The filer's file-transfer engine: list, get and put files between peers over rx-tcp-hub
 * connections, beside chat. The vocabulary is in PROTOCOL.md.
 */
export { TransferEngine, type Transfer, type TransferMemory } from './engine.js';
export type { TransferConnection } from './link.js';
export {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_MAX_ACTIVE_TRANSFERS,
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_QUEUE_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_WINDOW,
  type TransferOptions,
} from './options.js';
export {
  formatBytes,
  formatRate,
  formatSummary,
  type TransferDirection,
  type TransferEvent,
  type TransferKind,
  type TransferSnapshot,
  type TransferState,
  type TransferSummary,
} from './events.js';
export { checkName, MAX_NAME_BYTES, PART_SUFFIX } from './safe-path.js';
export { skipTransferMessages, onlyTransferMessages } from './operators.js';
export {
  TRANSFER_KEY,
  TransferOp,
  decodeTransferMessage,
  encodeTransferMessage,
  isTransferMessage,
  type ReceiverClaim,
  type RemoteFile,
  type TransferMessage,
} from './vocabulary.js';
