/** What the transfer engine reports: snapshots of transfers, their events, and the end-of-transfer summary. */
import type { TransferError } from '../../errors.js';

/** `get` (the receiver asked) or `put` (the sender offered), whichever side started it. */
export type TransferKind = 'get' | 'put';

/** Whether this side sends the file or receives it. */
export type TransferDirection = 'send' | 'receive';

/**
 * `requested`: waiting for the other side (or preparing files); `active`: data flowing;
 * `verifying`: all bytes in, checksum being checked and the file published; then one of
 * `done`, `failed`, `cancelled`.
 */
export type TransferState = 'requested' | 'active' | 'verifying' | 'done' | 'failed' | 'cancelled';

/** A transfer at one moment: what the `transfers` console command lists. A plain, frozen object. */
export interface TransferSnapshot {
  /** This engine's id for it: `t1`, `t2`, ... (what `cancel` takes). */
  readonly id: string;
  readonly kind: TransferKind;
  readonly direction: TransferDirection;
  /** Which side asked for it. */
  readonly initiator: 'local' | 'peer';
  /** The connection's id (`Messenger.id`). */
  readonly connection: string;
  /** The file's name on the wire: in the sender's shared folder for a get, the receiver's downloads for a put. */
  readonly name: string;
  /** The local file: the source when sending, the final name when receiving; undefined until resolved. */
  readonly path: string | undefined;
  readonly state: TransferState;
  /** The file's size in bytes, once known. */
  readonly size: number | undefined;
  /** Bytes confirmed so far (acknowledged by the receiver, or written to disk), a resumed prefix included. */
  readonly bytes: number;
  /** Where the data started: the length of the verified part a resumed transfer kept, else 0. */
  readonly resumedFrom: number;
  /** Average rate of this session's data, in bytes per second (0 before data flows). */
  readonly bytesPerSecond: number;
  /** Estimated time left in ms at that rate; undefined when unknown. */
  readonly etaMs: number | undefined;
  /** Scheduler time data began to flow, and the time the transfer ended. */
  readonly startedAt: number | undefined;
  readonly endedAt: number | undefined;
  /**
   * Sender: bytes sent and not yet acknowledged. Receiver: bytes received and not yet on disk.
   * At most `window × chunkBytes`.
   */
  readonly inFlightBytes: number;
  /** Chunk buffers held: the sender's read buffers, or the receiver's chunks waiting for the disk. At most `window`. */
  readonly bufferedChunks: number;
  /** Highest `inFlightBytes` and `bufferedChunks` seen during the transfer. */
  readonly peakInFlightBytes: number;
  readonly peakBufferedChunks: number;
  /** The verified SHA-256 (hex), once done. */
  readonly sha256: string | undefined;
  /** Why it failed or was cancelled. */
  readonly error: TransferError | undefined;
}

/** The end of a successful transfer: what the summary line shows. */
export interface TransferSummary {
  readonly id: string;
  readonly name: string;
  readonly direction: TransferDirection;
  /** The local file (the published one when receiving). */
  readonly path: string;
  /** The file's size in bytes. */
  readonly size: number;
  /** Bytes sent in this session (the size minus a resumed prefix). */
  readonly bytes: number;
  readonly resumedFrom: number;
  /** Time from the first data to the receiver's confirmation, in ms. */
  readonly elapsedMs: number;
  readonly bytesPerSecond: number;
  /** SHA-256 (hex) of the whole file. */
  readonly sha256: string;
  /** Always true: a transfer is done only once the receiver's SHA-256 matched the sender's. */
  readonly verified: true;
}

/** One event of one transfer; each carries the transfer's snapshot at that moment. */
export type TransferEvent =
  | { readonly type: 'requested'; readonly transfer: TransferSnapshot }
  | { readonly type: 'started'; readonly transfer: TransferSnapshot }
  | { readonly type: 'progress'; readonly transfer: TransferSnapshot }
  | { readonly type: 'done'; readonly transfer: TransferSnapshot; readonly summary: TransferSummary }
  | { readonly type: 'failed'; readonly transfer: TransferSnapshot; readonly error: TransferError }
  | { readonly type: 'cancelled'; readonly transfer: TransferSnapshot; readonly by: 'local' | 'peer' };

/**
 * The summary line of a finished transfer.
 * @example
 * formatSummary(summary) // 'received big.bin: 200.0 MB in 2.41 s, 83.0 MB/s, SHA-256 verified (3f5c9a1e…)'
 */
export function formatSummary(summary: TransferSummary): string {
  const verb = summary.direction === 'send' ? 'sent' : 'received';
  const resumed = summary.resumedFrom > 0 ? ` (resumed at ${formatBytes(summary.resumedFrom)})` : '';
  return (
    `${verb} ${summary.name}: ${formatBytes(summary.size)}${resumed} in ${(summary.elapsedMs / 1000).toFixed(2)} s, ` +
    `${formatRate(summary.bytesPerSecond)}, SHA-256 verified (${summary.sha256.slice(0, 8)}…)`
  );
}

/** Bytes in decimal units: `999 B`, `1.5 kB`, `200.0 MB`, `1.07 GB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

/** A rate in MB/s (decimal megabytes), as the summary line shows it. */
export function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
}
