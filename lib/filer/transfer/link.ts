/**
 * One connection as the transfer engine uses it: sends transfer messages, tells writers of chunks
 * when the connection's outbound queue has room, and remembers which transfer ids are live or
 * recently ended on it, so a late chunk or ack of an ended transfer is dropped quietly.
 */
import type { Messenger } from '../../connection/messenger.js';
import type { TransferBase } from './transfer.js';
import { encodeTransferMessage, type TransferMessage } from './vocabulary.js';

/**
 * What the engine needs of a connection. A `Messenger` is one; a test can wrap one (to alter a
 * chunk on its way, say) by passing these members through.
 */
export type TransferConnection = Pick<Messenger, 'id' | 'messages$' | 'closed$' | 'send' | 'queuedBytes' | 'maxQueueBytes' | 'socket'>;

/** Header bytes a chunk frame adds to its content, rounded up: prefix, `CL`, `ft`, `id`, `offset`. */
export const CHUNK_FRAME_OVERHEAD = 160;

/** Ended transfer ids remembered per connection. */
const ENDED_MEMORY = 1024;

export class TransferLink {
  /** Live transfers on this connection, by wire id. */
  readonly transfers = new Map<string, TransferBase>();
  /** Set once the connection has closed (or the engine let it go). */
  closed = false;
  private readonly ended = new Set<string>();
  private readonly blocked = new Set<() => void>();
  private listeningForDrain = false;

  constructor(
    readonly connection: TransferConnection,
    private readonly queueBytes: number,
  ) {}

  /** Sends one transfer message; settles as `Messenger.send` does. */
  send(message: TransferMessage): Promise<void> {
    const { header, content } = encodeTransferMessage(message);
    const sent = this.connection.send(header, content);
    // A frame left the queue (or failed): writers waiting for room look again.
    sent.then(this.wake, this.wake);
    return sent;
  }

  /** Sends a message whose loss needs no handling (the close of the connection covers it). */
  notify(message: TransferMessage): void {
    this.send(message).catch(noop);
  }

  /**
   * True when a frame of `frameBytes` may be written now: the queue is empty, or it stays within
   * the engine's `queueBytes` (at least the socket's high-water mark) and the connection's limit.
   */
  hasRoom(frameBytes: number): boolean {
    const queued = this.connection.queuedBytes;
    if (queued === 0) return true;
    // At or above the high-water mark the socket emits 'drain' when it empties, so a waiting writer
    // is always woken: the bound never goes below it.
    const floor = this.connection.socket.writableHighWaterMark ?? 0;
    const limit = Math.min(Math.max(this.queueBytes, floor), this.connection.maxQueueBytes);
    return queued + frameBytes <= limit;
  }

  /** Calls `retry` once, when a frame leaves the queue or the socket drains. */
  whenRoom(retry: () => void): void {
    this.blocked.add(retry);
    if (!this.listeningForDrain && !this.closed) {
      this.listeningForDrain = true;
      this.connection.socket.once('drain', this.onDrain);
    }
  }

  /** Forgets a live transfer and remembers its id as ended. */
  end(wireId: string): void {
    this.transfers.delete(wireId);
    this.ended.add(wireId);
    if (this.ended.size > ENDED_MEMORY) this.ended.delete(this.ended.values().next().value!);
  }

  /** True for an id that is live or ended on this connection. */
  knows(wireId: string): boolean {
    return this.transfers.has(wireId) || this.ended.has(wireId);
  }

  /** True for the id of a transfer that ended on this connection. */
  hasEnded(wireId: string): boolean {
    return this.ended.has(wireId);
  }

  /** Stops listening to the socket. */
  close(): void {
    this.closed = true;
    if (this.listeningForDrain) this.connection.socket.off('drain', this.onDrain);
    this.listeningForDrain = false;
    this.blocked.clear();
  }

  private readonly onDrain = (): void => {
    this.listeningForDrain = false;
    this.wake();
  };

  private readonly wake = (): void => {
    if (this.blocked.size === 0) return;
    const retries = [...this.blocked];
    this.blocked.clear();
    for (const retry of retries) retry();
  };
}

function noop(): void {}
