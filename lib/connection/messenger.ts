/**
 * One connection: a byte stream (a `net.Socket`, a `tls.TLSSocket` or an in-memory duplex) with
 * the seed's framing on top. Reading starts at once, so a peer's close is always seen; messages
 * nobody has subscribed to yet wait in a bounded inbox, and past that bound the socket stops
 * reading (TCP backpressure) rather than drop anything.
 */
import type { Duplex } from 'node:stream';
import { AsyncSubject, Observable, asyncScheduler, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs';
import {
  ConnectionClosedError,
  InvalidOptionError,
  ProtocolError,
  QueueFullError,
  RxTcpHubError,
  SendFailedError,
} from '../errors.js';
import { DEFAULT_MAX_CONTENT_BYTES } from '../protocol/constants.js';
import { FrameDecoder } from '../protocol/decoder.js';
import { encodeFrame } from '../protocol/encode.js';
import { frameLength, isCheck, type Frame, type Header, type HeaderInput, type Message } from '../protocol/message.js';
import { CloseReasonKind, formatAddress, type Address, type CloseReason } from './close-reason.js';

/** Default outbound queue limit per connection: 64 MiB of frames not yet taken by the kernel. */
export const DEFAULT_MAX_QUEUE_BYTES = 64 * 1024 * 1024;
/** Default bound of the inbox that holds messages while nobody subscribes: 1 MiB. */
export const DEFAULT_MAX_INBOX_BYTES = 1024 * 1024;
/** Default time a locally closed connection may take to flush before it is destroyed. */
export const DEFAULT_LINGER_MS = 2000;

export interface MessengerOptions {
  /** Largest content a received frame may announce. Default 64 MiB. */
  readonly maxContentBytes?: number;
  /** Outbound queue limit in bytes; a send past it fails with `ERR_QUEUE_FULL`. Default 64 MiB. */
  readonly maxQueueBytes?: number;
  /** Bytes of received messages held while nothing subscribes to `messages$`; past it reading pauses. Default 1 MiB. */
  readonly maxInboxBytes?: number;
  /** How long `close()` lets queued frames flush before the socket is destroyed. Default 2000 ms. */
  readonly lingerMs?: number;
  /** Scheduler for clocks and timers; a `TestScheduler` in marble tests. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/** A callback told when a frame was handed to the kernel (no argument) or failed (a typed error). */
export type WriteCallback = (error?: RxTcpHubError) => void;

/** What the hub's operators need of a connection; `Messenger` is the real one. */
export interface Target {
  readonly id: string;
  /** Queues a frame; throws `ConnectionClosedError` or `QueueFullError` synchronously. */
  write(frame: Frame, done?: WriteCallback): void;
  close(reason?: CloseReasonKind, error?: Error): void;
}

/** The socket surface a Messenger uses: `net.Socket` and the in-memory ends both have it. */
export type Transport = Duplex & {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
};

const EMPTY = Buffer.alloc(0);
const EMPTY_HEADER: Header = Object.freeze(Object.create(null));

/**
 * One connection, as the seed's `Messenger`. Users never construct it: hubs do.
 *
 * @example
 * messenger.messages$.subscribe(({ header }) => console.log(messenger.id, header['info']));
 * await messenger.send({ info: 'hello' });
 */
export class Messenger implements Target {
  /** Unique among its hub's live connections, stable for the connection's life (e.g. `c7`). */
  readonly id: string;
  /** The other end of the connection. */
  readonly addr: Address;
  /** The underlying byte stream; writing to it directly breaks the framing. */
  readonly socket: Transport;
  /** Scheduler time of the latest received message (the seed's `recv_time`); 0 before any. */
  recvTime = 0;
  /** Scheduler time of the latest send (the seed's `send_time`); 0 before any. */
  sendTime = 0;
  /** The latest received message's header (the seed's `header`). */
  header: Header = EMPTY_HEADER;
  /** The latest received message's content (the seed's `body`). */
  body: Buffer = EMPTY;
  /** Every received message, once each, in order; completes when the connection closes. */
  readonly messages$: Observable<Message>;
  /** One close reason, then completes; a subscriber after the close still gets it. */
  readonly closed$: Observable<CloseReason>;

  readonly maxQueueBytes: number;
  private readonly maxInboxBytes: number;
  private readonly lingerMs: number;
  private readonly scheduler: SchedulerLike;
  private readonly decoder: FrameDecoder;
  private readonly closedSubject = new AsyncSubject<CloseReason>();
  private readonly subscribers = new Set<Subscriber<Message>>();
  private inbox: Message[] = [];
  private inboxBytes = 0;
  private reason: CloseReason | undefined;
  private socketError: Error | undefined;
  private corked = false;
  private linger: Subscription | undefined;
  private readonly socketClosed: Promise<void>;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  constructor(socket: Transport, id: string, options: MessengerOptions = {}, addr?: Address) {
    this.socket = socket;
    this.id = id;
    this.addr = addr ?? { host: socket.remoteAddress ?? 'unknown', port: socket.remotePort ?? 0 };
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.maxQueueBytes = byteOption('maxQueueBytes', options.maxQueueBytes, DEFAULT_MAX_QUEUE_BYTES);
    this.maxInboxBytes = byteOption('maxInboxBytes', options.maxInboxBytes, DEFAULT_MAX_INBOX_BYTES);
    this.lingerMs = byteOption('lingerMs', options.lingerMs, DEFAULT_LINGER_MS);
    this.decoder = new FrameDecoder({ maxContentBytes: options.maxContentBytes ?? DEFAULT_MAX_CONTENT_BYTES });
    this.closed$ = this.closedSubject.asObservable();
    this.messages$ = new Observable<Message>((subscriber) => this.addSubscriber(subscriber));
    this.socketClosed = new Promise((resolve) => {
      if (socket.destroyed) resolve();
      else socket.once('close', () => resolve());
    });

    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (error: Error) => {
      this.socketError ??= error;
    });
    socket.on('close', () => this.onClose());
  }

  /** True once the connection has closed (its `closed$` has emitted). */
  get closed(): boolean {
    return this.reason !== undefined;
  }

  /** The close reason, once closed. */
  get closeReason(): CloseReason | undefined {
    return this.reason;
  }

  /** Bytes of frames accepted by `send` and not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /** Resolves when the underlying socket is fully closed (its handle released). */
  whenSocketClosed(): Promise<void> {
    return this.socketClosed;
  }

  /**
   * Sends one message. Resolves when the frame is handed to the kernel; rejects with a typed error:
   * `FrameEncodeError` (nothing written), `ConnectionClosedError`, `QueueFullError` (nothing
   * written), or `SendFailedError`. Frames of concurrent sends never interleave.
   */
  send(header: HeaderInput, content?: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        this.write(encodeFrame(header, content), (error) => (error ? reject(error) : resolve()));
      } catch (error) {
        reject(error);
      }
    });
  }

  /**
   * Queues an encoded frame (see `encodeFrame`); the hub's operators use it to encode a broadcast
   * once. Throws synchronously, with nothing written, when the connection is closed or the frame
   * would pass `maxQueueBytes`.
   */
  write(frame: Frame, done?: WriteCallback): void {
    if (this.reason !== undefined || this.socket.destroyed || this.socket.writableEnded) {
      throw new ConnectionClosedError(this.id);
    }
    const size = frameLength(frame);
    const queued = this.socket.writableLength;
    if (queued + size > this.maxQueueBytes) {
      throw new QueueFullError(this.id, queued, size, this.maxQueueBytes);
    }
    this.sendTime = this.scheduler.now();
    if (!this.corked) {
      // Writes made in one tick leave as one writev.
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    const last = frame.length - 1;
    for (let i = 0; i < last; i++) this.socket.write(frame[i]);
    if (done) {
      this.socket.write(frame[last], (error) => done(this.writeFailure(error)));
    } else {
      this.socket.write(frame[last]);
    }
  }

  /**
   * Closes the connection (the seed's `_close_client`). A local close lets queued frames flush for
   * up to `lingerMs`; any other reason destroys the socket at once. Idempotent: the first reason wins.
   */
  close(reason: CloseReasonKind = CloseReasonKind.Local, error?: Error): void {
    if (this.reason !== undefined) return;
    // The reason is settled before the socket is touched: anything a destroy calls back into
    // (a failed write's callback, say) then finds the connection already closed for this reason.
    this.finish(error ? { reason, error } : { reason });
    if (reason === CloseReasonKind.Local) {
      this.socket.resume(); // keep reading to the peer's FIN, so the socket can close
      this.socket.end();
      if (!this.socket.destroyed) this.linger = this.scheduler.schedule(() => this.socket.destroy(), this.lingerMs);
    } else {
      this.socket.destroy();
    }
  }

  toString(): string {
    return `${this.id} (${formatAddress(this.addr)})`;
  }

  /** The typed error of a write's callback, or undefined when the frame really reached the kernel. */
  private writeFailure(error: Error | null | undefined): SendFailedError | undefined {
    const socket = this.socket;
    if (!error) {
      // Node calls back a write still in flight when the socket is destroyed with no error, as if
      // it were written: cancelled by a reset, it never reached the kernel whole.
      if (!socket.destroyed || socket.writableFinished) return undefined;
      return new SendFailedError(this.id, this.socketError ?? new Error('socket destroyed before the frame was written'));
    }
    // Frames still queued at a destroy fail with ERR_STREAM_DESTROYED; the socket's error says why.
    const destroyed = (error as NodeJS.ErrnoException).code === 'ERR_STREAM_DESTROYED';
    return new SendFailedError(this.id, destroyed ? (this.socketError ?? error) : error);
  }

  private addSubscriber(subscriber: Subscriber<Message>): () => void {
    // Messages that waited for a subscriber go to the first one, in order.
    while (this.inbox.length > 0 && !subscriber.closed) {
      const message = this.inbox.shift()!;
      this.inboxBytes -= inboxCost(message);
      subscriber.next(message);
    }
    if (this.reason !== undefined) {
      subscriber.complete();
      return noop;
    }
    this.subscribers.add(subscriber);
    if (this.socket.isPaused() && this.inboxBytes <= this.maxInboxBytes) this.socket.resume();
    return () => {
      this.subscribers.delete(subscriber);
    };
  }

  private onData(chunk: Buffer): void {
    if (this.reason !== undefined) return;
    try {
      this.decoder.push(chunk, (message) => this.deliver(message));
    } catch (error) {
      if (error instanceof ProtocolError) this.close(CloseReasonKind.ProtocolError, error);
      else throw error;
    }
  }

  private deliver(message: Message): void {
    if (this.reason !== undefined) return;
    this.recvTime = this.scheduler.now();
    if (isCheck(message)) return; // the seed's connection check is consumed here
    this.header = message.header;
    this.body = message.content;
    if (this.subscribers.size === 0) {
      this.inbox.push(message);
      this.inboxBytes += inboxCost(message);
      if (this.inboxBytes > this.maxInboxBytes) this.socket.pause();
      return;
    }
    for (const subscriber of this.subscribers) subscriber.next(message);
  }

  private onEnd(): void {
    if (this.reason !== undefined) return;
    try {
      this.decoder.end();
      this.finish({ reason: CloseReasonKind.PeerClosed });
    } catch (error) {
      this.close(CloseReasonKind.ProtocolError, error as Error);
    }
  }

  private onClose(): void {
    this.linger?.unsubscribe();
    if (this.reason !== undefined) return;
    const error = this.socketError;
    this.finish(error ? { reason: CloseReasonKind.Reset, error } : { reason: CloseReasonKind.PeerClosed });
  }

  private finish(reason: CloseReason): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    const subscribers = [...this.subscribers];
    this.subscribers.clear();
    for (const subscriber of subscribers) subscriber.complete();
    this.closedSubject.next(reason);
    this.closedSubject.complete();
  }
}

function noop(): void {}

/** What a waiting message counts against `maxInboxBytes`: its content plus a share for its header. */
function inboxCost(message: Message): number {
  return message.content.length + 64;
}

function byteOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidOptionError(name, value, 'a whole number >= 0');
  }
  return value;
}
