/** The transfer engine's options, their defaults, and their validation (once, at construction). */
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { InvalidOptionError } from '../../errors.js';
import { DEFAULT_MAX_CONTENT_BYTES } from '../../protocol/constants.js';

/** Default chunk size: 256 KiB of file content per `chunk` message. */
export const DEFAULT_CHUNK_BYTES = 256 * 1024;
/** Default credit window: chunks a sender may have sent and not yet seen acknowledged. */
export const DEFAULT_WINDOW = 8;
/** Default size limit of one file, sent or received: 4 GiB. */
export const DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024 * 1024;
/** Default bound on the connection's outbound queue under which a chunk may be written: 1 MiB. */
export const DEFAULT_QUEUE_BYTES = 1024 * 1024;
/** Default time to wait for the peer's answer to `ls`, `get` or `put`: 30 s. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Default number of transfers (both directions, all connections) active at once. */
export const DEFAULT_MAX_ACTIVE_TRANSFERS = 32;

export interface TransferOptions {
  /** The folder whose regular files peers may list and get. Required. */
  readonly shareDir: string;
  /** The folder where received files land (gets and peers' puts). Required. */
  readonly downloadsDir: string;
  /**
   * File bytes per `chunk` message. Default 256 KiB. The sender uses the smaller of its own and
   * the receiver's; keep it under the connection's `maxContentBytes` (64 MiB by default).
   */
  readonly chunkBytes?: number;
  /**
   * Credit window in chunks: a sender has at most this many chunks sent and not acknowledged, and a
   * receiver holds at most this many chunks not yet on disk. Memory per transfer is bounded by
   * `window × chunkBytes` on each side. Default 8.
   */
  readonly window?: number;
  /** Largest file this side sends or accepts, in bytes. Default 4 GiB. */
  readonly maxFileBytes?: number;
  /**
   * A chunk is written only while the connection's `queuedBytes` is at most this (or the socket's
   * high-water mark, whichever is larger), so a chat message queued meanwhile waits behind at most
   * this much file data. Never more than the connection's `maxQueueBytes`. Default 1 MiB.
   */
  readonly queueBytes?: number;
  /** How long `ls`, `get` and `put` wait for the peer's answer. Default 30 000 ms. */
  readonly requestTimeoutMs?: number;
  /** Transfers active at once; one more request is refused with `ERR_TRANSFER_BUSY`. Default 32. */
  readonly maxActiveTransfers?: number;
  /** Replace a file of the same name in the downloads folder instead of refusing. Default false. */
  readonly overwrite?: boolean;
  /** Clock for rates and timeouts; a `TestScheduler` in marble tests. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/** Options with every default filled in. */
export type ResolvedTransferOptions = Required<TransferOptions>;

/** Fills in the defaults and checks every value; throws `InvalidOptionError` naming the option. */
export function resolveTransferOptions(options: TransferOptions): ResolvedTransferOptions {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object');
  return {
    shareDir: folder('shareDir', options.shareDir),
    downloadsDir: folder('downloadsDir', options.downloadsDir),
    chunkBytes: whole('chunkBytes', options.chunkBytes, DEFAULT_CHUNK_BYTES, 1, DEFAULT_MAX_CONTENT_BYTES - 1024),
    window: whole('window', options.window, DEFAULT_WINDOW, 1, 4096),
    maxFileBytes: whole('maxFileBytes', options.maxFileBytes, DEFAULT_MAX_FILE_BYTES, 0, Number.MAX_SAFE_INTEGER),
    queueBytes: whole('queueBytes', options.queueBytes, DEFAULT_QUEUE_BYTES, 0, Number.MAX_SAFE_INTEGER),
    requestTimeoutMs: whole('requestTimeoutMs', options.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS, 1, 2 ** 31 - 1),
    maxActiveTransfers: whole('maxActiveTransfers', options.maxActiveTransfers, DEFAULT_MAX_ACTIVE_TRANSFERS, 1, 1_000_000),
    overwrite: flag('overwrite', options.overwrite),
    scheduler: options.scheduler ?? asyncScheduler,
  };
}

function folder(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidOptionError(name, value, 'a folder path');
  return value;
}

function whole(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(name, value, `a whole number from ${min} to ${max}`);
  }
  return value;
}

function flag(name: string, value: boolean | undefined): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, value, 'true or false');
  return value;
}
