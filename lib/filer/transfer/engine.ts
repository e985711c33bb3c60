/**
 * The file-transfer engine of a peer: it serves the peer's shared folder and downloads folder over
 * every connection it is attached to, and runs the transfers this side asks for. Transfer messages
 * share the connection with chat; the engine reads only messages with the `ft` key and leaves every
 * other message (chat's `info`) alone.
 */
import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { Observable, Subject, Subscription } from 'rxjs';
import {
  TransferBusyError,
  TransferError,
  TransferInterruptedError,
  TransferTimeoutError,
} from '../../errors.js';
import type { Message } from '../../protocol/message.js';
import type { TransferEvent, TransferKind, TransferSnapshot, TransferSummary } from './events.js';
import { IncomingTransfer } from './incoming.js';
import { TransferLink, type TransferConnection } from './link.js';
import { resolveTransferOptions, type ResolvedTransferOptions, type TransferOptions } from './options.js';
import { OutgoingTransfer } from './outgoing.js';
import { listShared } from './safe-path.js';
import { TransferBase, asTransferError, remoteError, type TransferContext, type TransferIdentity } from './transfer.js';
import { decodeTransferMessage, isTransferMessage, wireCode, type RemoteFile, type TransferMessage } from './vocabulary.js';

/** Ended transfers kept in `transfers` for the console to show. */
const HISTORY = 100;

/** A transfer this side started: follow it, await it, or cancel it. */
export interface Transfer {
  /** The engine's id for it (`t1`, ...), as `transfers` lists it and `cancel` takes it. */
  readonly id: string;
  /** Resolves with the summary once the receiver verified the checksum; rejects with a `TransferError`. */
  readonly done: Promise<TransferSummary>;
  /** The transfer now. */
  snapshot(): TransferSnapshot;
  /** Cancels it on both sides; false when it has already ended. */
  cancel(): boolean;
}

/** Memory the engine's transfers hold right now, summed over every transfer. */
export interface TransferMemory {
  /** Bytes sent and not acknowledged, plus bytes received and not yet on disk. */
  readonly inFlightBytes: number;
  /** Chunk buffers held by senders and chunks waiting for the disk at receivers. */
  readonly bufferedChunks: number;
}

interface Attachment {
  readonly link: TransferLink;
  readonly subscription: Subscription;
  readonly lists: Map<string, PendingList>;
}

interface PendingList {
  readonly resolve: (files: RemoteFile[]) => void;
  readonly reject: (error: TransferError) => void;
  readonly timer: Subscription;
}

/**
 * Lists, gets and puts files over rx-tcp-hub connections, and serves the same to peers.
 *
 * Attach every connection that should carry transfers (both ends must run an engine); `get`, `put`
 * and `list` attach their connection themselves. Progress and ends arrive on `events$`.
 *
 * @example
 * const engine = new TransferEngine({ shareDir: './share', downloadsDir: './downloads' });
 * server.connections$.pipe(filter(isOpened)).subscribe(({ messenger }) => engine.attach(messenger));
 * engine.events$.subscribe((e) => e.type === 'done' && console.log(formatSummary(e.summary)));
 * const files = await engine.list(messenger);            // [{ name: 'big.bin', size: 209715200 }]
 * const transfer = engine.get(messenger, 'big.bin');      // transfer.id === 't1'
 * await transfer.done;                                    // downloads/big.bin, SHA-256 verified
 */
export class TransferEngine {
  /** Every transfer's events (requested, started, progress, done, failed, cancelled); hot: from subscription on. */
  readonly events$: Observable<TransferEvent>;
  /** The options in effect, defaults filled in. */
  readonly options: ResolvedTransferOptions;
  private readonly events = new Subject<TransferEvent>();
  private readonly attachments = new Map<TransferConnection, Attachment>();
  private readonly all = new Map<string, TransferBase>();
  private readonly parts = new Set<string>();
  private readonly context: TransferContext;
  private nextId = 1;
  private stopped = false;

  /** @throws InvalidOptionError naming the option whose value cannot be used. */
  constructor(options: TransferOptions) {
    this.options = resolveTransferOptions(options);
    this.events$ = this.events.asObservable();
    this.context = {
      options: this.options,
      emit: (event) => this.events.next(event),
      ended: (transfer) => this.prune(transfer),
      claimPart: (path) => {
        if (this.parts.has(path)) return false;
        this.parts.add(path);
        return true;
      },
      releasePart: (path) => void this.parts.delete(path),
    };
  }

  /** Snapshots of the active transfers and the latest ended ones, oldest first. */
  get transfers(): TransferSnapshot[] {
    return [...this.all.values()].map((transfer) => transfer.snapshot());
  }

  /** Memory held by chunks right now, over all transfers (a bound test asserts on these). */
  get memory(): TransferMemory {
    let inFlightBytes = 0;
    let bufferedChunks = 0;
    for (const transfer of this.all.values()) {
      if (transfer.isEnding) continue;
      const snapshot = transfer.snapshot();
      inFlightBytes += snapshot.inFlightBytes;
      bufferedChunks += snapshot.bufferedChunks;
    }
    return { inFlightBytes, bufferedChunks };
  }

  /**
   * Serves transfers on a connection: answers the peer's `ls`, `get` and `put` and carries this
   * side's. Idempotent. When the connection closes, its transfers fail with `ERR_TRANSFER_INTERRUPTED`.
   */
  attach(connection: TransferConnection): void {
    this.linkOf(connection);
  }

  /**
   * The peer's shared files, name and size, sorted by name.
   * @throws (rejects) TransferError: the peer's refusal, `ERR_TRANSFER_TIMEOUT`, `ERR_TRANSFER_INTERRUPTED`
   */
  list(connection: TransferConnection): Promise<RemoteFile[]> {
    const attachment = this.attachmentOf(connection);
    const { link, lists } = attachment;
    if (link.closed) return Promise.reject(new TransferInterruptedError(connection.id));
    const id = wireId();
    return new Promise<RemoteFile[]>((resolve, reject) => {
      const ms = this.options.requestTimeoutMs;
      const timer = this.options.scheduler.schedule(() => {
        lists.delete(id);
        reject(new TransferTimeoutError('ls', ms));
      }, ms);
      lists.set(id, { resolve, reject, timer });
      link.send({ op: 'ls', id }).catch((error: unknown) => {
        if (!lists.delete(id)) return;
        timer.unsubscribe();
        reject(new TransferInterruptedError(connection.id, error));
      });
    });
  }

  /**
   * Downloads `name` from the peer's shared folder into the downloads folder, as `as` (default:
   * the same name). A part file left by an earlier attempt is resumed when the peer's file starts
   * with the same bytes.
   */
  get(connection: TransferConnection, name: string, as?: string): Transfer {
    const transfer = this.create(connection, 'get', name, (identity, link) => new IncomingTransfer(identity, link, this.context));
    if (!transfer.isEnding) transfer.requestGet(as);
    return handle(transfer);
  }

  /**
   * Uploads a local file into the peer's downloads folder, as `as` (default: the file's base
   * name). `file` is a path on this machine, resolved as `fs.open` does.
   */
  put(connection: TransferConnection, file: string, as?: string): Transfer {
    const name = as ?? basename(String(file));
    const transfer = this.create(connection, 'put', name, (identity, link) => new OutgoingTransfer(identity, link, this.context));
    if (!transfer.isEnding) transfer.offerPut(file);
    return handle(transfer);
  }

  /** Cancels a transfer by id (`t3`), on both sides. False when there is no such active transfer. */
  cancel(id: string): boolean {
    return this.all.get(id)?.cancel('local') ?? false;
  }

  /** Cancels every active transfer, stops serving every connection; resolves when files are closed. */
  async stop(): Promise<void> {
    this.stopped = true;
    const active = [...this.all.values()].filter((transfer) => !transfer.isEnding);
    for (const transfer of active) transfer.cancel('local');
    for (const [connection, attachment] of this.attachments) this.detach(connection, attachment, 'the transfer engine stopped');
    await Promise.all(active.map((transfer) => transfer.done.then(noop, noop)));
    this.events.complete();
  }

  /** Makes and registers a transfer this side starts; it has already failed when it cannot start. */
  private create<T extends TransferBase>(
    connection: TransferConnection,
    kind: TransferKind,
    name: string,
    make: (identity: TransferIdentity, link: TransferLink) => T,
  ): T {
    const link = this.linkOf(connection);
    const transfer = make({ id: `t${this.nextId++}`, wireId: wireId(), kind, initiator: 'local', name }, link);
    this.register(link, transfer);
    if (link.closed) transfer.interrupt(this.stopped ? 'the transfer engine stopped' : 'closed');
    else if (this.activeCount() > this.options.maxActiveTransfers) transfer.fail(busy(this.options.maxActiveTransfers), false);
    return transfer;
  }

  private register(link: TransferLink, transfer: TransferBase): void {
    this.all.set(transfer.id, transfer);
    link.transfers.set(transfer.wireId, transfer);
    this.events.next({ type: 'requested', transfer: transfer.snapshot() });
  }

  private linkOf(connection: TransferConnection): TransferLink {
    return this.attachmentOf(connection).link;
  }

  private attachmentOf(connection: TransferConnection): Attachment {
    const known = this.attachments.get(connection);
    if (known) return known;
    const link = new TransferLink(connection, this.options.queueBytes);
    const attachment: Attachment = { link, subscription: new Subscription(), lists: new Map() };
    this.attachments.set(connection, attachment);
    // Messages that waited in the connection's inbox arrive during subscribe: the attachment exists by then.
    attachment.subscription.add(
      connection.messages$.subscribe((message) => {
        if (isTransferMessage(message)) this.dispatch(attachment, message);
      }),
    );
    attachment.subscription.add(
      connection.closed$.subscribe((reason) =>
        this.detach(connection, attachment, reason.error ? `${reason.reason}: ${reason.error.message}` : reason.reason),
      ),
    );
    if (this.stopped) this.detach(connection, attachment, 'the transfer engine stopped');
    return attachment;
  }

  private detach(connection: TransferConnection, attachment: Attachment, reason: string): void {
    if (this.attachments.get(connection) === attachment) this.attachments.delete(connection);
    if (attachment.link.closed) return;
    attachment.link.close();
    attachment.subscription.unsubscribe();
    for (const transfer of [...attachment.link.transfers.values()]) transfer.interrupt(reason);
    for (const pending of attachment.lists.values()) {
      pending.timer.unsubscribe();
      pending.reject(new TransferInterruptedError(connection.id, reason));
    }
    attachment.lists.clear();
  }

  /** Routes one received transfer message. Never throws: a bad message gets an `error` answer. */
  private dispatch(attachment: Attachment, raw: Message): void {
    const { link } = attachment;
    const decoded = decodeTransferMessage(raw);
    if (!('op' in decoded)) {
      if (raw.header['ft'] === 'error') return; // an error is never answered with an error
      const transfer = decoded.id === undefined ? undefined : link.transfers.get(decoded.id);
      if (transfer) transfer.fail(decoded.error, true);
      else link.notify({ op: 'error', id: decoded.id ?? '-', code: decoded.error.code, message: decoded.error.message });
      return;
    }
    try {
      this.route(attachment, decoded);
    } catch (error) {
      // Handlers do not throw; should one, only the transfer it concerns may suffer.
      const transfer = link.transfers.get(decoded.id);
      const failure = asTransferError(error, 'transfer');
      if (transfer) transfer.fail(failure, true);
      else if (decoded.op !== 'error') link.notify({ op: 'error', id: decoded.id, code: failure.code, message: failure.message });
    }
  }

  private route(attachment: Attachment, message: TransferMessage): void {
    const { link, lists } = attachment;
    switch (message.op) {
      case 'ls':
        return this.serveList(link, message.id);
      case 'ls-result': {
        const pending = lists.get(message.id);
        if (!pending) return;
        lists.delete(message.id);
        pending.timer.unsubscribe();
        return pending.resolve([...message.files]);
      }
      case 'get':
      case 'put': {
        if (link.knows(message.id)) {
          return link.notify({ op: 'error', id: message.id, code: 'ERR_TRANSFER_PROTOCOL', message: `transfer id ${message.id} is already in use` });
        }
        return this.servePeer(link, message);
      }
      case 'error': {
        const pending = lists.get(message.id);
        if (pending) {
          lists.delete(message.id);
          pending.timer.unsubscribe();
          return pending.reject(remoteError(message.code, message.message));
        }
        return link.transfers.get(message.id)?.failedByPeer(message.code, message.message);
      }
      case 'cancel':
        link.transfers.get(message.id)?.cancel('peer');
        return;
      default: {
        const transfer = link.transfers.get(message.id);
        if (transfer) return transfer.handle(message);
        // Chunks and acks of a transfer that ended here are still on their way: drop them.
        if (link.hasEnded(message.id)) return;
        return link.notify({ op: 'error', id: message.id, code: 'ERR_TRANSFER_PROTOCOL', message: `no transfer ${message.id} on this connection` });
      }
    }
  }

  private serveList(link: TransferLink, id: string): void {
    listShared(this.options.shareDir).then(
      (files) => link.notify({ op: 'ls-result', id, files }),
      (error: unknown) => {
        const failure = asTransferError(error, 'ls');
        link.notify({ op: 'error', id, code: wireCode(failure), message: failure.message });
      },
    );
  }

  private servePeer(link: TransferLink, message: Extract<TransferMessage, { op: 'get' | 'put' }>): void {
    const identity = { id: `t${this.nextId++}`, wireId: message.id, kind: message.op, initiator: 'peer' as const, name: message.name };
    if (message.op === 'get') {
      const transfer = new OutgoingTransfer(identity, link, this.context);
      this.register(link, transfer);
      if (this.activeCount() > this.options.maxActiveTransfers) return transfer.fail(busy(this.options.maxActiveTransfers), true);
      return transfer.serveGet(message);
    }
    const transfer = new IncomingTransfer(identity, link, this.context);
    this.register(link, transfer);
    if (this.activeCount() > this.options.maxActiveTransfers) return transfer.fail(busy(this.options.maxActiveTransfers), true);
    return transfer.acceptPut(message.size);
  }

  private activeCount(): number {
    let n = 0;
    for (const transfer of this.all.values()) if (!transfer.isEnding) n++;
    return n;
  }

  /** Keeps the latest `HISTORY` ended transfers. */
  private prune(ended: TransferBase): void {
    ended.done.catch(noop);
    let endedCount = 0;
    for (const transfer of this.all.values()) if (transfer.isEnding) endedCount++;
    for (const [id, transfer] of this.all) {
      if (endedCount <= HISTORY) break;
      if (transfer.isEnding && transfer !== ended) {
        this.all.delete(id);
        endedCount--;
      }
    }
  }
}

function handle(transfer: TransferBase): Transfer {
  return Object.freeze({
    id: transfer.id,
    done: transfer.done,
    snapshot: () => transfer.snapshot(),
    cancel: () => transfer.cancel('local'),
  });
}

/** A transfer id for the wire: random, so both ends can start transfers without agreeing on ids. */
function wireId(): string {
  return randomBytes(6).toString('hex');
}

function busy(max: number): TransferBusyError {
  return new TransferBusyError(`${max} transfers are already active (maxActiveTransfers)`);
}

function noop(): void {}

