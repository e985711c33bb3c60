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
  FirstMessageTimeoutError,
  FrameTimeoutError,
  IdleTimeoutError,
  ProtocolError,
  QueueFullError,
  ReceiveFailedError,
  SendFailedError,
  WriteTimeoutError,
  type RxTcpHubError,
} from '../errors.js';
import { FrameDecoder } from '../protocol/decoder.js';
import { encodeFrame, frameContent, frameHeadText, type HeadSize } from '../protocol/encode.js';
import { PREFIX_BYTES } from '../protocol/constants.js';
import { frameLength, isCheck, type Frame, type Header, type HeaderInput, type Message } from '../protocol/message.js';
import { CloseReasonKind, formatAddress, type Address, type CloseReason } from './close-reason.js';
import { FrameWriter, type WriteCallback, type WriterOwner } from './frame-writer.js';
import { Activity, Watchdog, pingHeader, pingOf, pongHeader, pongOf, type LivenessSignal, type WriteProgress } from './liveness.js';
import type { BudgetHolder, QueueBudget } from './queue-budget.js';
import { DEFAULT_METRICS_INTERVAL_MS, TrafficCounters, sampleStats, type ConnectionStats } from './metrics.js';
import { duration, resolveMessengerOptions, type MessengerOptions, type ResolvedMessengerOptions } from './options.js';

export {
  DEFAULT_FRAME_TIMEOUT_MS,
  DEFAULT_LINGER_MS,
  DEFAULT_MAX_INBOX_BYTES,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_WRITE_TIMEOUT_MS,
  type MessengerOptions,
  type QueueFullPolicy,
} from './options.js';

export type { WriteCallback } from './frame-writer.js';

/** What the hub's operators need of a connection; `Messenger` is the real one. */
export interface Target {
  readonly id: string;
  /**
   * Queues a frame: accepted when it returns, refused when it throws (`ConnectionClosedError`,
   * `QueueFullError`, `HubQueueFullError`), synchronously either way. `done`, when given, is told
   * later when the frame was handed to the kernel, or why it never was.
   */
  write(frame: Frame, done?: WriteCallback): void;
  close(reason?: CloseReasonKind, error?: Error): void;
}

/**
 * What a hub hears from each of its connections through plain calls instead of a subscription and
 * a promise per connection, which an idle connection would carry for its whole life.
 */
export interface MessengerOwner {
  /** The connection closed: called once, before `closed$` emits. */
  connectionClosed(messenger: Messenger, reason: CloseReason): void;
  /** The connection closed: called once, after `closed$` has emitted to all its subscribers. */
  connectionGone(messenger: Messenger, reason: CloseReason): void;
  /** The socket closed (after any linger): called once. */
  socketReleased(messenger: Messenger): void;
  /** The hub's budget for queued bytes over all its connections, which each one charges. */
  readonly queueBudget?: QueueBudget | undefined;
  /** The hub's budget for bytes of partly received frames over all its connections. */
  readonly inboundBudget?: QueueBudget | undefined;
}

/** The socket surface a Messenger uses: `net.Socket` and the in-memory ends both have it. */
export type Transport = Duplex & {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
};

/** `net.Socket` and `tls.TLSSocket` have it; in-memory sockets may not. */
type KeepAliveSocket = { setKeepAlive?: (enable: boolean, initialDelayMs?: number) => unknown };

const EMPTY = Buffer.alloc(0);
/** `send`'s out-parameter for `frameHeadText`, read at once: one per process is enough. */
const headSize: HeadSize = { bytes: 0 };
const EMPTY_HEADER: Header = Object.freeze(Object.create(null));

// Shared stand-ins for empty lists (never changed): an idle connection allocates none of its own.
const NO_SUBSCRIBERS: readonly Subscriber<Message>[] = Object.freeze([]);
/** Where a socket keeps its Messenger, for the listeners all connections share. */
const OWNER = Symbol('rx-tcp-hub.messenger');
type OwnedTransport = Transport & { [OWNER]: Messenger };

/**
 * Options are checked and defaulted once per options object, not once per connection: a hub
 * passes the same object to each of its connections. Keyed weakly, so it holds nothing alive.
 */
const resolvedOptions = new WeakMap<MessengerOptions, ResolvedMessengerOptions>();

function resolveOnce(options: MessengerOptions): ResolvedMessengerOptions {
  let resolved = resolvedOptions.get(options);
  if (resolved === undefined) {
    resolved = resolveMessengerOptions(options);
    resolvedOptions.set(options, resolved);
  }
  return resolved;
}

/**
 * One connection, as the seed's `Messenger`. Users never construct it: hubs do.
 *
 * @example
 * messenger.messages$.subscribe(({ header }) => console.log(messenger.id, header['info']));
 * await messenger.send({ info: 'hello' });
 */
export class Messenger implements Target, WriterOwner, WriteProgress, BudgetHolder {
  /** Unique among its hub's live connections, stable for the connection's life (e.g. `c7`). */
  readonly id: string;
  /** The other end of the connection. */
  readonly addr: Address;
  /** The underlying byte stream; writing to it directly breaks the framing. */
  readonly socket: Transport;
  /** Scheduler time of the latest received message (the seed's `recv_time`); 0 before any. */
  get recvTime(): number {
    // The clock is read once per chunk, after its messages were delivered (see `onData`), unless
    // someone asks during their delivery: a reply then leaves without waiting for a clock read.
    if (this.recvPending) this.received(this.scheduler.now());
    return this.recvAt;
  }
  /** Scheduler time of the latest send (the seed's `send_time`); 0 before any. */
  sendTime = 0;
  /** The latest received message's header (the seed's `header`); kept only with `keepLatest: true`, else empty. */
  header: Header = EMPTY_HEADER;
  /** The latest received message's content (the seed's `body`); kept only with `keepLatest: true`, else empty. */
  body: Buffer = EMPTY;

  readonly maxQueueBytes: number;
  /** Bytes charged to the hub's queue budget; the budget alone writes it (see `QueueBudget`). */
  budgetedBytes = 0;
  private readonly budget: QueueBudget | undefined;
  private readonly inboundBudget: QueueBudget | undefined;
  /** What the inbound budget knows of this connection: made when it first holds part of a frame. */
  private inbound: InboundHolder | undefined;
  private readonly options: ResolvedMessengerOptions;
  private readonly scheduler: SchedulerLike;
  /**
   * True on the real clock (`asyncScheduler`): the writes of one tick then share the clock reading
   * of the first, as real time barely moves within a tick. A virtual clock may move any amount in
   * one tick (a `TestScheduler` flushes synchronously), so there every write reads it.
   */
  private readonly realClock: boolean;
  private readonly decoder: FrameDecoder;
  private readonly traffic = new TrafficCounters();
  private readonly activity = new Activity();
  private watchdog: Watchdog | undefined;
  private latestRtt: number | undefined;
  /** Made at the first `rtt$` subscriber: most connections never have one. */
  private rttSubscribers: Set<Subscriber<number>> | undefined;
  private pingSequence = 0;
  private pingSentAt = -1;
  /** Made the first time `closed$` is asked for: the hub hears of closes through `owner` calls. */
  private closedSubject: AsyncSubject<CloseReason> | undefined;
  private closedObservable: Observable<CloseReason> | undefined;
  /**
   * Replaced, never changed in place: a subscriber added while a message is being delivered (the
   * hub subscribes to a connection it lets in on its first message) does not get that message too.
   */
  private subscribers: readonly Subscriber<Message>[] = NO_SUBSCRIBERS;
  /** Scheduler time of the chunk being decoded. */
  private recvAt = 0;
  /** A message was delivered from the current chunk and `recvAt` has not been read for it yet. */
  private recvPending = false;
  /** Messages waiting for a first subscriber, from `inboxHead` on; made at the first one. */
  private inbox: Message[] | undefined;
  private inboxHead = 0;
  private inboxBytes = 0;
  private reason: CloseReason | undefined;
  private socketError: Error | undefined;
  /** The write path, made by the first write (see `FrameWriter`). */
  private writer: FrameWriter | undefined;
  private linger: Subscription | undefined;
  private readonly owner: MessengerOwner | undefined;
  /** True once the socket emitted 'close' (or was destroyed before this Messenger saw it). */
  private released: boolean;
  private socketClosed: Promise<void> | undefined;
  private resolveSocketClosed: (() => void) | undefined;
  // An idle connection never needs these, so each is made the first time it is: a connection
  // costs memory for as long as it is open, and a hub may hold tens of thousands.
  private messagesObservable: Observable<Message> | undefined;
  private rttObservable: Observable<number> | undefined;
  private onMessage: ((message: Message) => void) | undefined;

  /**
   * @throws InvalidOptionError naming an option whose value cannot be used
   */
  constructor(socket: Transport, id: string, options: MessengerOptions = {}, addr?: Address, owner?: MessengerOwner) {
    this.socket = socket;
    this.owner = owner;
    this.budget = owner?.queueBudget;
    this.inboundBudget = owner?.inboundBudget;
    this.id = id;
    this.addr = addr ?? { host: socket.remoteAddress ?? 'unknown', port: socket.remotePort ?? 0 };
    this.options = resolveOnce(options);
    this.scheduler = this.options.scheduler;
    this.realClock = this.scheduler === asyncScheduler;
    this.maxQueueBytes = this.options.maxQueueBytes;
    this.decoder = new FrameDecoder({ maxContentBytes: this.options.maxContentBytes });
    this.released = socket.destroyed;

    // Shared listeners that find this Messenger on the socket: no closures per connection.
    (socket as OwnedTransport)[OWNER] = this;
    socket.on('data', Messenger.onSocketData);
    socket.on('end', Messenger.onSocketEnd);
    socket.on('error', Messenger.onSocketError);
    socket.on('close', Messenger.onSocketClose);
    // TCP keepalive finds a dead peer even with the heartbeat off.
    (socket as KeepAliveSocket).setKeepAlive?.(true, this.options.keepAliveDelayMs);
    if (this.options.writeTimeoutMs > 0) this.activity.writes = this;
    this.startWatchdog();
  }

  /** One close reason, then completes; a subscriber after the close still gets it. */
  get closed$(): Observable<CloseReason> {
    if (this.closedObservable === undefined) {
      const subject = (this.closedSubject = new AsyncSubject<CloseReason>());
      if (this.reason !== undefined) {
        subject.next(this.reason);
        subject.complete();
      }
      this.closedObservable = subject.asObservable();
    }
    return this.closedObservable;
  }

  /** Every received message, once each, in order; completes when the connection closes. */
  get messages$(): Observable<Message> {
    return (this.messagesObservable ??= new Observable<Message>((subscriber) => this.addSubscriber(subscriber)));
  }

  /** Each round-trip time the heartbeat measures, in ms; completes when the connection closes. */
  get rtt$(): Observable<number> {
    return (this.rttObservable ??= new Observable<number>((subscriber) => this.addRttSubscriber(subscriber)));
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
    return this.socket.writableLength + (this.writer?.gatheredBytes ?? 0);
  }

  /** Bytes received and not yet delivered as a message: a frame still arriving, mostly. */
  get unfinishedBytes(): number {
    return this.decoder.bufferedBytes;
  }

  /** What the hub's inbound budget knows of this connection, once it held part of a frame. */
  get inboundHolder(): BudgetHolder | undefined {
    return this.inbound;
  }

  /** Bytes handed to the kernel since the connection opened (what the write deadline watches). */
  get handedBytes(): number {
    return this.traffic.bytesOut - this.queuedBytes;
  }

  /** The latest round-trip time the heartbeat measured, in ms; undefined before any (or with a peer that does not answer). */
  get rtt(): number | undefined {
    return this.latestRtt;
  }

  /** `stats()` at once, then every second, and a last time at the close; then completes. See `metricsEvery`. */
  get metrics$(): Observable<ConnectionStats> {
    // Made on demand: most connections are never sampled one by one.
    return this.metricsEvery(DEFAULT_METRICS_INTERVAL_MS);
  }

  /** A snapshot of this connection's traffic: bytes and messages both ways, queue depth, rtt. */
  stats(): ConnectionStats {
    const t = this.traffic;
    return {
      id: this.id,
      bytesIn: t.bytesIn,
      bytesOut: t.bytesOut,
      messagesIn: t.messagesIn,
      messagesOut: t.messagesOut,
      queuedBytes: this.queuedBytes,
      rtt: this.latestRtt,
      closed: this.reason !== undefined,
    };
  }

  /**
   * `stats()` at once, then every `periodMs` on the connection's scheduler, and a last time when
   * the connection closes; then completes. Lazy: nothing runs until subscribed.
   * @example
   * messenger.metricsEvery(500).subscribe(({ bytesIn, queuedBytes }) => console.log(bytesIn, queuedBytes));
   */
  metricsEvery(periodMs: number): Observable<ConnectionStats> {
    return sampleStats(() => this.stats(), periodMs, this.scheduler, this.closed$);
  }

  /** Resolves when the underlying socket is fully closed (its handle released). */
  whenSocketClosed(): Promise<void> {
    if (this.socketClosed === undefined) {
      this.socketClosed = this.released ? Promise.resolve() : new Promise((resolve) => (this.resolveSocketClosed = resolve));
    }
    return this.socketClosed;
  }

  /**
   * Resolves once every frame accepted so far was handed to the kernel: the "flushed" signal that
   * the hub's sends, which settle when a frame is accepted, do not wait for. Rejects with
   * `ConnectionClosedError` when the connection is closed, or `SendFailedError` when the socket
   * fails first. Resolves at once when nothing is queued.
   * @example
   * await hub.broadcast({ info: 'last words' });
   * await Promise.all(hub.messengers.map((m) => m.flushed().catch(() => {})));
   */
  flushed(): Promise<void> {
    if (this.reason !== undefined) return Promise.reject(new ConnectionClosedError(this.id));
    if (this.queuedBytes === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.writer!.whenWritten((error) => (error ? reject(error) : resolve())));
  }

  /**
   * Sends one message. Resolves when the frame is handed to the kernel; rejects with a typed error:
   * `FrameEncodeError` (nothing written), `ConnectionClosedError`, `QueueFullError` (nothing
   * written), or `SendFailedError`. Frames of concurrent sends never interleave.
   */
  send(header: HeaderInput, content?: Uint8Array): Promise<void> {
    const writer = (this.writer ??= this.makeWriter());
    const batch = writer.sendBatch();
    batch.add(); // first: a transport may call a write back at once
    try {
      const body = frameContent(content);
      const text = frameHeadText(header, body.length, headSize);
      const textBytes = headSize.bytes;
      const started = this.admit(writer, PREFIX_BYTES + textBytes + body.length);
      writer.text(text, textBytes, body, batch);
      this.stamp(started);
    } catch (error) {
      // Encoding, closed, queue full: this send fails alone, with nothing written.
      batch.remove();
      return Promise.reject(error);
    }
    writer.keep(batch); // the batch is sealed when the tick ends
    return batch.promise;
  }

  /**
   * Queues an encoded frame (see `encodeFrame`); the hub's operators use it to encode a broadcast
   * once. Accepted when it returns; throws synchronously, with nothing written, when the connection
   * is closed or the frame would pass `maxQueueBytes` (by default after closing the connection as
   * `slow-consumer`) or the hub's `maxQueuedBytesTotal`. `done`, when given, is told once the frame
   * was handed to the kernel, or with the typed error when it never was.
   */
  write(frame: Frame, done?: WriteCallback): void {
    const writer = (this.writer ??= this.makeWriter());
    const started = this.admit(writer, frame.length === 1 ? frame[0]!.length : frameLength(frame));
    writer.frame(frame, done, undefined);
    this.stamp(started);
  }

  private makeWriter(): FrameWriter {
    return new FrameWriter(this.socket, this);
  }

  /**
   * Called by this connection's write path (`FrameWriter`) when the queue may have moved: the hub's
   * budget learns what it really holds, and the write deadline starts watching a queue that holds bytes.
   */
  queueMoved(): void {
    const queued = this.queuedBytes;
    if (this.budget !== undefined && this.reason === undefined) this.budget.account(this, queued);
    if (queued > 0) this.activity.queued();
  }

  /** Called by the hub's queue budget: closes this connection, which holds the most, as `slow-consumer`. */
  shed(error: RxTcpHubError): void {
    if (this.reason === undefined) this.close(CloseReasonKind.SlowConsumer, error);
    else this.socket.destroy(); // closed and still flushing: what it holds goes now
  }

  /**
   * Checks that a frame of `size` bytes may be queued, and counts it; true when it starts the tick's
   * batch (see `FrameWriter.cork`).
   * @throws ConnectionClosedError; QueueFullError (with `onQueueFull: 'close'`, after closing the
   *   connection as `slow-consumer`); HubQueueFullError (see `QueueBudget.charge`)
   */
  private admit(writer: FrameWriter, size: number): boolean {
    if (this.reason !== undefined || this.socket.destroyed || this.socket.writableEnded) {
      throw new ConnectionClosedError(this.id);
    }
    const queued = this.queuedBytes;
    if (queued + size > this.maxQueueBytes) {
      const error = new QueueFullError(this.id, queued, size, this.maxQueueBytes);
      // A frame too large for even an empty queue is the sender's fault: refused, closing nothing.
      if (this.options.onQueueFull === 'close' && queued > 0) this.close(CloseReasonKind.SlowConsumer, error);
      throw error;
    }
    this.budget?.charge(this, size);
    this.traffic.bytesOut += size;
    this.traffic.messagesOut++;
    return writer.cork();
  }

  /**
   * Records the time of a send, once its frame is queued: a tick's first frame has left by then,
   * so the clock is read after it, not before. `started` is true for the tick's first send.
   */
  private stamp(started: boolean): void {
    if (started || !this.realClock) this.sendTime = this.scheduler.now();
    this.activity.sent(this.sendTime);
  }

  /**
   * Closes the connection (the seed's `_close_client`). A local close lets queued frames flush for
   * up to `lingerMs`; any other reason destroys the socket at once. Idempotent: the first reason wins.
   */
  close(reason: CloseReasonKind = CloseReasonKind.Local, error?: Error): void {
    this.closeWithin(reason, error, this.options.lingerMs);
  }

  /**
   * Closes this side (reason `local`) and lets queued frames flush for up to `deadlineMs`, then
   * destroys the socket. Resolves when the socket has closed: true when every queued frame was
   * handed to the kernel, false when the deadline (or the peer) cut the flush short. On a
   * connection already closed it only waits for the socket.
   * @param deadlineMs default `lingerMs`
   */
  async drain(deadlineMs: number = this.options.lingerMs): Promise<boolean> {
    this.closeWithin(CloseReasonKind.Local, undefined, duration('deadlineMs', deadlineMs, 0));
    await this.whenSocketClosed();
    // Finished means every byte was handed to the kernel, whether or not the peer's FIN came.
    return this.socket.writableFinished;
  }

  toString(): string {
    return `${this.id} (${formatAddress(this.addr)})`;
  }

  private closeWithin(reason: CloseReasonKind, error: Error | undefined, lingerMs: number): void {
    if (this.reason !== undefined) return;
    // The reason is settled before the socket is touched: anything a destroy calls back into
    // (a failed write's callback, say) then finds the connection already closed for this reason.
    this.finish(error ? { reason, error } : { reason });
    if (reason === CloseReasonKind.Local) {
      this.writer?.flush(); // frames accepted before the close are the socket's to write, within the linger
      this.socket.resume(); // keep reading to the peer's FIN, so the socket can close
      this.socket.end();
      if (!this.socket.destroyed) {
        this.linger = this.scheduler.schedule(() => this.socket.destroy(), lingerMs);
      }
    } else {
      this.socket.destroy();
      this.writer?.abandon(); // what waited in the writer fails with the socket, unwritten
      this.budget?.release(this); // a destroyed socket holds nothing
    }
  }

  private startWatchdog(): void {
    const o = this.options;
    if (o.heartbeatMs + o.idleTimeoutMs + o.frameTimeoutMs + o.firstMessageTimeoutMs + o.connectCheckMs + o.writeTimeoutMs === 0) return;
    this.watchdog = new Watchdog(this.activity, o, this.scheduler, (signal) => this.onLiveness(signal));
  }

  private onLiveness(signal: LivenessSignal): void {
    const o = this.options;
    switch (signal) {
      case 'heartbeat':
        this.pingSequence++;
        if (this.writeCheck(pingHeader(this.pingSequence))) this.pingSentAt = this.scheduler.now();
        return;
      case CloseReasonKind.IdleTimeout:
        return this.close(signal, new IdleTimeoutError(this.id, o.idleTimeoutMs));
      case CloseReasonKind.FrameTimeout:
        return this.close(signal, new FrameTimeoutError(this.id, o.frameTimeoutMs));
      case CloseReasonKind.FirstMessageTimeout:
        return this.close(signal, new FirstMessageTimeoutError(this.id, o.firstMessageTimeoutMs));
      case CloseReasonKind.SlowConsumer:
        return this.close(signal, new WriteTimeoutError(this.id, o.writeTimeoutMs, this.queuedBytes));
    }
  }

  /** A ping is answered; the pong of our latest ping measures the round trip. */
  private onCheck(header: Header): void {
    const ping = pingOf(header);
    if (ping !== undefined) this.writeCheck(pongHeader(ping));
    const pong = pongOf(header);
    if (pong !== undefined && pong === this.pingSequence && this.pingSentAt >= 0) {
      const rtt = this.scheduler.now() - this.pingSentAt;
      this.pingSentAt = -1;
      this.latestRtt = rtt;
      if (this.rttSubscribers) for (const subscriber of this.rttSubscribers) subscriber.next(rtt);
    }
  }

  /** Sends a connection check when the queue has room for it; a check never fails or closes anything. */
  private writeCheck(header: HeaderInput): boolean {
    if (this.reason !== undefined) return false;
    const frame = encodeFrame(header);
    if (this.queuedBytes + frameLength(frame) > this.maxQueueBytes) return false;
    try {
      this.write(frame);
      return true;
    } catch {
      return false;
    }
  }

  /** The typed error of a write's callback, or undefined when the frame really reached the kernel (for `FrameWriter`). */
  writeFailure(error: Error | null | undefined): SendFailedError | undefined {
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
    // Read afresh each time: a delivery may add to the inbox (it may even start one).
    while (this.inbox !== undefined && this.inboxHead < this.inbox.length && !subscriber.closed) {
      const message = this.inbox[this.inboxHead]!;
      this.inbox[this.inboxHead++] = undefined as unknown as Message; // let it go
      this.inboxBytes -= inboxCost(message);
      subscriber.next(message);
    }
    if (this.inbox !== undefined && this.inboxHead === this.inbox.length) {
      this.inbox = undefined;
      this.inboxHead = 0;
    }
    if (subscriber.closed) return noop; // it took what it wanted from the inbox (take(1), say)
    if (this.reason !== undefined) {
      subscriber.complete();
      return noop;
    }
    this.subscribers = [...this.subscribers, subscriber];
    if (this.socket.isPaused() && this.inboxBytes <= this.options.maxInboxBytes) this.socket.resume();
    return () => {
      this.subscribers = this.subscribers.filter((s) => s !== subscriber);
    };
  }

  private addRttSubscriber(subscriber: Subscriber<number>): () => void {
    if (this.reason !== undefined) {
      subscriber.complete();
      return noop;
    }
    const subscribers = (this.rttSubscribers ??= new Set());
    subscribers.add(subscriber);
    return () => {
      subscribers.delete(subscriber);
    };
  }

  // The socket's listeners, the same functions for every connection: `this` is the socket.
  private static onSocketData(this: OwnedTransport, chunk: Buffer): void {
    this[OWNER].onData(chunk);
  }

  private static onSocketEnd(this: OwnedTransport): void {
    this[OWNER].onEnd();
  }

  private static onSocketError(this: OwnedTransport, error: Error): void {
    this[OWNER].onError(error);
  }

  private static onSocketClose(this: OwnedTransport): void {
    this[OWNER].onClose();
  }

  private onData(chunk: Buffer): void {
    if (this.reason !== undefined) return;
    const traffic = this.traffic;
    const before = traffic.messagesIn;
    traffic.bytesIn += chunk.length;
    try {
      this.decoder.push(chunk, (this.onMessage ??= (message) => this.deliver(message)));
    } catch (error) {
      if (this.recvPending) this.received(this.scheduler.now()); // the messages before the error
      // Whatever went wrong in this connection's bytes closes this connection, and only it: an
      // allocation that failed (RangeError) must not escape the socket's handler to the process.
      if (error instanceof ProtocolError) this.close(CloseReasonKind.ProtocolError, error);
      else this.close(CloseReasonKind.Reset, new ReceiveFailedError(this.id, error));
      return;
    }
    // At most one clock read per chunk, once its messages were delivered (they all arrived at this
    // instant, and a reply sent from a subscriber left before the read), and none for the middle
    // chunks of a large frame unless an idle deadline watches every byte.
    const completed = traffic.messagesIn !== before;
    const atBoundary = this.decoder.atBoundary;
    const activity = this.activity;
    const now = this.recvPending || activity.needsTime(completed, atBoundary) ? this.scheduler.now() : -1;
    if (this.recvPending) this.received(now);
    activity.received(now, completed, atBoundary);
    if (this.inboundBudget !== undefined && (!atBoundary || this.inbound !== undefined)) this.holdInbound(this.inboundBudget);
  }

  /** Tells the hub's inbound budget what this connection holds of unfinished frames; past it, who holds most is closed. */
  private holdInbound(budget: QueueBudget): void {
    if (this.reason !== undefined) return;
    try {
      budget.hold((this.inbound ??= new InboundHolder(this)), this.decoder.bufferedBytes);
    } catch (error) {
      // Shed as the one holding the most (closed already), or holding more than the whole budget alone.
      this.close(CloseReasonKind.InboundBudget, error as Error);
    }
  }

  /** The messages delivered since the clock was last read for them arrived at `now`. */
  private received(now: number): void {
    this.recvPending = false;
    this.recvAt = now;
  }

  private deliver(message: Message): void {
    if (this.reason !== undefined) return;
    this.traffic.messagesIn++;
    this.recvPending = true;
    if (isCheck(message)) {
      // The seed's connection check is consumed here, whatever else it carries.
      if (message.header['ping'] !== undefined || message.header['pong'] !== undefined) this.onCheck(message.header);
      return;
    }
    if (this.options.keepLatest) {
      this.header = message.header;
      this.body = message.content;
    }
    const subscribers = this.subscribers;
    if (subscribers.length === 0) {
      (this.inbox ??= []).push(message);
      this.inboxBytes += inboxCost(message);
      if (this.inboxBytes > this.options.maxInboxBytes) this.socket.pause();
      return;
    }
    for (let i = 0; i < subscribers.length; i++) subscribers[i]!.next(message);
  }

  private onError(error: Error): void {
    this.socketError ??= error;
    // A net.Socket is already destroyed when it reports an error, and its 'close' follows. A TLS
    // socket that fails after its handshake (an alert from the peer, a record it cannot decrypt)
    // reports the error and stays open, yet nothing more can be read from it: close it now.
    if (this.reason === undefined && !this.socket.destroyed) this.close(CloseReasonKind.Reset, error);
  }

  private onEnd(): void {
    if (this.reason !== undefined) return;
    if (this.socketError) {
      // An end after an error (a TLS alert, then the peer's FIN) is no orderly close.
      this.close(CloseReasonKind.Reset, this.socketError);
      return;
    }
    try {
      this.decoder.end();
      this.finish({ reason: CloseReasonKind.PeerClosed });
    } catch (error) {
      this.close(CloseReasonKind.ProtocolError, error as Error);
    }
  }

  private onClose(): void {
    if (!this.released) {
      this.released = true;
      this.budget?.release(this);
      this.owner?.socketReleased(this);
    }
    this.writer?.abandon(); // what never reached the socket fails with its error
    this.resolveSocketClosed?.();
    this.linger?.unsubscribe();
    if (this.reason !== undefined) return;
    const error = this.socketError;
    this.finish(error ? { reason: CloseReasonKind.Reset, error } : { reason: CloseReasonKind.PeerClosed });
  }

  private finish(reason: CloseReason): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    if (this.inbound !== undefined) this.inboundBudget!.release(this.inbound);
    this.watchdog?.stop();
    this.owner?.connectionClosed(this, reason);
    const subscribers = this.subscribers;
    this.subscribers = NO_SUBSCRIBERS;
    for (const subscriber of subscribers) subscriber.complete();
    const rttSubscribers = this.rttSubscribers;
    this.rttSubscribers = undefined;
    if (rttSubscribers) for (const subscriber of rttSubscribers) subscriber.complete();
    this.closedSubject?.next(reason);
    this.closedSubject?.complete();
    this.owner?.connectionGone(this, reason);
  }
}

function noop(): void {}

/** A connection as the inbound budget sees it: its unfinished bytes, and a close as `inbound-budget`. */
class InboundHolder implements BudgetHolder {
  budgetedBytes = 0;

  constructor(private readonly messenger: Messenger) {}

  get id(): string {
    return this.messenger.id;
  }

  get queuedBytes(): number {
    return this.messenger.unfinishedBytes;
  }

  shed(error: RxTcpHubError): void {
    this.messenger.close(CloseReasonKind.InboundBudget, error);
  }
}

/** What a waiting message counts against `maxInboxBytes`: its content plus a share for its header. */
function inboxCost(message: Message): number {
  return message.content.length + 64;
}
