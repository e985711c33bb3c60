/**
 * What every transfer has, sending or receiving: its identity, its counters and state, a serial
 * queue for its file work, and one way to end (done, failed or cancelled) that cleans up its
 * files before it reports, so a reported end means the file handles are closed and the part file
 * is where the documentation says.
 */
import type { Subscription } from 'rxjs';
import {
  ErrorCode,
  TransferCancelledError,
  TransferError,
  TransferInterruptedError,
  TransferIoError,
  TransferProtocolError,
  TransferTimeoutError,
} from '../../errors.js';
import type { TransferDirection, TransferEvent, TransferKind, TransferSnapshot, TransferState, TransferSummary } from './events.js';
import type { TransferLink } from './link.js';
import type { ResolvedTransferOptions } from './options.js';
import { wireCode, type TransferMessage } from './vocabulary.js';

/** What a transfer needs of its engine. */
export interface TransferContext {
  readonly options: ResolvedTransferOptions;
  emit(event: TransferEvent): void;
  /** Called once the transfer has ended and cleaned up. */
  ended(transfer: TransferBase): void;
  /** Claims a part file for writing; false when another transfer holds it. */
  claimPart(path: string): boolean;
  releasePart(path: string): void;
}

export interface TransferIdentity {
  readonly id: string;
  readonly wireId: string;
  readonly kind: TransferKind;
  readonly initiator: 'local' | 'peer';
  readonly name: string;
}

/** How a transfer ended, as its cleanup sees it. */
export type Outcome = { readonly state: 'done' } | { readonly state: 'failed' | 'cancelled'; readonly error: TransferError };

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

export abstract class TransferBase {
  readonly id: string;
  readonly wireId: string;
  readonly kind: TransferKind;
  readonly initiator: 'local' | 'peer';
  readonly name: string;
  abstract readonly direction: TransferDirection;
  /** Settles when the transfer ends: the summary, or the typed error. */
  readonly done: Promise<TransferSummary>;

  protected state: TransferState = 'requested';
  protected path: string | undefined;
  protected size: number | undefined;
  protected bytes = 0;
  protected resumedFrom = 0;
  protected startedAt: number | undefined;
  protected endedAt: number | undefined;
  protected sha256: string | undefined;
  protected error: TransferError | undefined;
  protected inFlightBytes = 0;
  protected bufferedChunks = 0;
  protected peakInFlightBytes = 0;
  protected peakBufferedChunks = 0;
  /** True from the moment the transfer starts to end: later messages and queued work are ignored. */
  protected ending = false;
  protected timer: Subscription | undefined;
  /** Whether the peer has heard of this transfer (it asked, or our request went out). */
  protected peerKnows: boolean;
  private work: Promise<void> = Promise.resolve();
  private resolveDone!: (summary: TransferSummary) => void;
  private rejectDone!: (error: TransferError) => void;

  constructor(
    identity: TransferIdentity,
    protected readonly link: TransferLink,
    protected readonly context: TransferContext,
  ) {
    this.id = identity.id;
    this.wireId = identity.wireId;
    this.kind = identity.kind;
    this.initiator = identity.initiator;
    this.name = identity.name;
    this.peerKnows = identity.initiator === 'peer';
    this.done = new Promise<TransferSummary>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // Whoever started the transfer may only watch events$; an unawaited failure must not crash.
    this.done.catch(noop);
  }

  /** True once the transfer has ended or is ending. */
  get isEnding(): boolean {
    return this.ending;
  }

  /** Handles a message of the vocabulary addressed to this transfer. */
  abstract handle(message: TransferMessage): void;

  /** Closes files and decides the fate of the part file; must not reject. */
  protected abstract cleanup(outcome: Outcome): Promise<void>;

  snapshot(): TransferSnapshot {
    const now = this.endedAt ?? this.context.options.scheduler.now();
    const session = this.bytes - this.resumedFrom;
    const elapsed = this.startedAt === undefined ? 0 : now - this.startedAt;
    const rate = elapsed > 0 ? (session * 1000) / elapsed : 0;
    const left = this.size === undefined ? undefined : this.size - this.bytes;
    return Object.freeze({
      id: this.id,
      kind: this.kind,
      direction: this.direction,
      initiator: this.initiator,
      connection: this.link.connection.id,
      name: this.name,
      path: this.path,
      state: this.state,
      size: this.size,
      bytes: this.bytes,
      resumedFrom: this.resumedFrom,
      bytesPerSecond: rate,
      etaMs: left === undefined || rate === 0 ? undefined : Math.round((left * 1000) / rate),
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      inFlightBytes: this.inFlightBytes,
      bufferedChunks: this.bufferedChunks,
      peakInFlightBytes: this.peakInFlightBytes,
      peakBufferedChunks: this.peakBufferedChunks,
      sha256: this.sha256,
      error: this.error,
    });
  }

  /** Cancels the transfer; `local` tells the peer. False when it has already ended. */
  cancel(by: 'local' | 'peer'): boolean {
    if (this.ending) return false;
    if (by === 'local' && this.peerKnows) this.link.notify({ op: 'cancel', id: this.wireId });
    this.finish({ state: 'cancelled', error: new TransferCancelledError(by) });
    return true;
  }

  /** Fails the transfer; with `tellPeer` (and once the peer knows of it), sends the peer an `error` with the same code and message. */
  fail(error: TransferError, tellPeer: boolean): void {
    if (this.ending) return;
    if (tellPeer && this.peerKnows) this.link.notify({ op: 'error', id: this.wireId, code: wireCode(error), message: error.message });
    this.finish({ state: 'failed', error });
  }

  /** The connection closed under the transfer. */
  interrupt(reason: string): void {
    this.fail(new TransferInterruptedError(this.link.connection.id, reason), false);
  }

  /** The peer reported a failure of this transfer. */
  failedByPeer(code: string, message: string): void {
    this.fail(remoteError(code, message), false);
  }

  /** Starts the request timer: no answer within `requestTimeoutMs` fails the transfer. */
  protected awaitAnswer(what: string): void {
    // A timer armed after the end would never be cleared, and would hold the process open.
    if (this.ending) return;
    const ms = this.context.options.requestTimeoutMs;
    this.timer = this.context.options.scheduler.schedule(() => this.fail(new TransferTimeoutError(what, ms), true), ms);
  }

  protected answered(): void {
    this.timer?.unsubscribe();
    this.timer = undefined;
  }

  /**
   * Runs file work in order, one task at a time; once the transfer is ending, queued tasks are
   * skipped (`skipped` runs instead, for their counters). A task that throws fails the transfer.
   */
  protected serial(task: () => Promise<void> | void, skipped?: () => void): void {
    this.work = this.work.then(async () => {
      if (this.ending) {
        skipped?.();
        return;
      }
      try {
        await task();
      } catch (error) {
        this.fail(asTransferError(error, `${this.name}`), true);
      }
    });
  }

  /** Data begins to flow from `offset` of a file of `size` bytes. */
  protected begin(size: number, offset: number): void {
    this.size = size;
    this.bytes = offset;
    this.resumedFrom = offset;
    this.state = 'active';
    this.startedAt = this.context.options.scheduler.now();
    this.context.emit({ type: 'started', transfer: this.snapshot() });
  }

  protected progressed(): void {
    if (this.inFlightBytes > this.peakInFlightBytes) this.peakInFlightBytes = this.inFlightBytes;
    if (this.bufferedChunks > this.peakBufferedChunks) this.peakBufferedChunks = this.bufferedChunks;
    this.context.emit({ type: 'progress', transfer: this.snapshot() });
  }

  /** Records peaks without an event (for counters that rise between progress events). */
  protected track(): void {
    if (this.inFlightBytes > this.peakInFlightBytes) this.peakInFlightBytes = this.inFlightBytes;
    if (this.bufferedChunks > this.peakBufferedChunks) this.peakBufferedChunks = this.bufferedChunks;
  }

  /** Ends successfully: the receiver's checksum matched. */
  protected succeed(sha256: string): void {
    if (this.ending) return;
    this.sha256 = sha256;
    this.bytes = this.size ?? this.bytes;
    this.finish({ state: 'done' });
  }

  /** Ends the transfer: stops timers, queues the cleanup after running file work, then reports. */
  private finish(outcome: Outcome): void {
    this.ending = true;
    this.answered();
    this.link.end(this.wireId);
    this.work = this.work.then(async () => {
      try {
        await this.cleanup(outcome);
      } catch {
        // cleanup is best effort by contract; the outcome is already decided
      }
      this.report(outcome);
    });
  }

  private report(outcome: Outcome): void {
    this.endedAt = this.context.options.scheduler.now();
    this.inFlightBytes = 0;
    this.bufferedChunks = 0;
    this.state = outcome.state;
    if (outcome.state === 'done') {
      const summary = this.summary();
      this.context.emit({ type: 'done', transfer: this.snapshot(), summary });
      this.context.ended(this);
      this.resolveDone(summary);
      return;
    }
    this.error = outcome.error;
    const snapshot = this.snapshot();
    if (outcome.state === 'cancelled' && outcome.error instanceof TransferCancelledError) {
      this.context.emit({ type: 'cancelled', transfer: snapshot, by: outcome.error.by });
    } else {
      this.context.emit({ type: 'failed', transfer: snapshot, error: outcome.error });
    }
    this.context.ended(this);
    this.rejectDone(outcome.error);
  }

  private summary(): TransferSummary {
    const elapsedMs = Math.max(0, (this.endedAt ?? 0) - (this.startedAt ?? this.endedAt ?? 0));
    const bytes = (this.size ?? 0) - this.resumedFrom;
    return Object.freeze({
      id: this.id,
      name: this.name,
      direction: this.direction,
      path: this.path ?? '',
      size: this.size ?? 0,
      bytes,
      resumedFrom: this.resumedFrom,
      elapsedMs,
      bytesPerSecond: elapsedMs > 0 ? (bytes * 1000) / elapsedMs : 0,
      sha256: this.sha256 ?? '',
      verified: true as const,
    });
  }
}

/** The error the peer reported, as a `TransferError` with `remote: true`. */
export function remoteError(code: string, message: string): TransferError {
  if (KNOWN_CODES.has(code)) return new TransferError(code as ErrorCode, `peer: ${message}`, { remote: true });
  return new TransferError(ErrorCode.TransferProtocol, `peer: ${code}: ${message}`, { remote: true });
}

/** Any failure as a `TransferError`: typed errors pass through, anything else is an I/O failure. */
export function asTransferError(error: unknown, what: string): TransferError {
  if (error instanceof TransferError) return error;
  if (error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('ERR_') && KNOWN_CODES.has(error.code)) {
    return new TransferError(error.code as ErrorCode, error.message, { cause: error });
  }
  return new TransferIoError(what, error);
}

/** A protocol violation by the peer, about this transfer. */
export function violation(message: string): TransferProtocolError {
  return new TransferProtocolError(message);
}

function noop(): void {}
