/**
 * A connection to one address that stays up: `Client.dial` makes one. It drives a lazy dial with
 * the `reconnect` operator and keeps, around it, what users need across reconnects: a `state$`, a
 * `messages$` that goes on from one connection to the next, and a `send` that knows what to do
 * while the connection is down (fail fast, or wait in a bounded queue).
 */
import { BehaviorSubject, EMPTY, defer, of, switchMap, takeWhile, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { ConnectionClosedError, InvalidOptionError } from '../errors.js';
import { formatAddress, type Address } from '../connection/close-reason.js';
import type { Messenger } from '../connection/messenger.js';
import { encodeFrame } from '../protocol/encode.js';
import { frameLength, type Frame, type HeaderInput, type Message } from '../protocol/message.js';
import { reconnect, type RetryWithBackoffOptions } from './reconnect.js';
import { NotConnectedError, OfflineQueueFullError } from '../errors.js';

/**
 * Where a dialled connection is. Every dial starts with `connecting`; each success is an `open`
 * (with the new Messenger: do the "on open" work there); each loss or failed dial is a `retrying`
 * with the attempt and the delay before the next dial; `closed` is last: after `close()`, the hub's
 * `stop()`, or when it gave up (`error` says why).
 */
export type ConnectionState =
  | { readonly type: 'connecting'; readonly attempt: number }
  | { readonly type: 'open'; readonly messenger: Messenger }
  | { readonly type: 'retrying'; readonly attempt: number; readonly delayMs: number; readonly error: unknown }
  | { readonly type: 'closed'; readonly error?: unknown };

/** Bounds of the queue that holds sends while the connection is down. */
export interface OfflineQueueOptions {
  /** Messages the queue may hold. */
  readonly maxMessages: number;
  /** Bytes of encoded frames the queue may hold. */
  readonly maxBytes: number;
}

export interface ReconnectingOptions extends Omit<RetryWithBackoffOptions, 'onRetry'> {
  /**
   * Hold sends made while the connection is down, within these bounds, and write them, in order,
   * once it is open again. Default: no queue, such sends fail with `NotConnectedError`.
   */
  readonly queueWhileDown?: OfflineQueueOptions;
}

/** The offline queue's figures. */
export interface OfflineQueueStats {
  readonly messages: number;
  readonly bytes: number;
  /** Sends refused because the queue was full, since the connection was made. */
  readonly overflowed: number;
}

interface Queued {
  readonly frame: Frame;
  readonly size: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * One address kept connected. Made by `Client.dial`; any lazy dial of Messengers will do, which is
 * how to use it with another hub.
 *
 * @example
 * const link = client.dial('127.0.0.1', 5000, { queueWhileDown: { maxMessages: 100, maxBytes: 1 << 20 } });
 * link.state$.subscribe((s) => console.log(s.type));
 * link.messages$.subscribe(({ header }) => console.log(header['info']));
 * await link.send({ info: 'hello' });
 * await link.close();
 */
export class ReconnectingConnection {
  /** The dialled address. */
  readonly address: Address;
  /** The current state on subscribe, then every change; completes after `closed`. */
  readonly state$: Observable<ConnectionState>;
  /** The messages of every connection made, in order; completes after `closed`. */
  readonly messages$: Observable<Message>;

  private readonly states: BehaviorSubject<ConnectionState>;
  private readonly label: string;
  private readonly limits: OfflineQueueOptions | undefined;
  private readonly queue: Queued[] = [];
  private queueBytes = 0;
  private overflowed = 0;
  /** States set while subscribers are still being told of the previous one. */
  private pendingStates: ConnectionState[] | undefined;
  private ended = false;
  /** The `closed` state, once delivered, for subscribers that come after. */
  private final: Observable<ConnectionState> | undefined;
  private readonly driver: Subscription;

  constructor(address: Address, connect$: Observable<Messenger>, options: ReconnectingOptions & { readonly scheduler?: SchedulerLike } = {}) {
    this.address = address;
    this.label = formatAddress(address);
    this.limits = queueLimits(options.queueWhileDown);
    this.states = new BehaviorSubject<ConnectionState>({ type: 'connecting', attempt: 0 });
    // A completed BehaviorSubject replays nothing: a subscriber after the end still gets `closed`.
    this.state$ = defer(() => this.final ?? this.states.asObservable());
    this.messages$ = this.states.pipe(
      takeWhile((state) => state.type !== 'closed'),
      switchMap((state) => (state.type === 'open' ? state.messenger.messages$ : EMPTY)),
    );
    const { queueWhileDown: _queue, ...backoff } = options;
    let attempt = 0;
    const dial$ = defer(() => {
      if (this.states.value.type !== 'connecting') this.setState({ type: 'connecting', attempt });
      return connect$;
    });
    this.driver = dial$
      .pipe(
        reconnect({
          ...backoff,
          onRetry: (retry) => {
            attempt = retry.attempt;
            this.setState({ type: 'retrying', ...retry });
          },
        }),
      )
      .subscribe({
        next: (messenger) => {
          // "On open" work done by state$ subscribers is written before the queued sends.
          this.setState({ type: 'open', messenger });
          this.flush(messenger);
        },
        error: (error: unknown) => this.finish(error),
      });
  }

  /** The current state. */
  get state(): ConnectionState {
    return this.states.value;
  }

  /** The current connection, while open. */
  get messenger(): Messenger | undefined {
    const state = this.states.value;
    return state.type === 'open' ? state.messenger : undefined;
  }

  /** What the offline queue holds, and how many sends it refused. */
  get offlineQueue(): OfflineQueueStats {
    return { messages: this.queue.length, bytes: this.queueBytes, overflowed: this.overflowed };
  }

  /**
   * Sends one message on the current connection (see `Messenger.send`). While the connection is
   * down it rejects at once with `NotConnectedError`, or, with `queueWhileDown`, waits in the queue
   * and settles once written to the next connection; a send the queue has no room for rejects with
   * `OfflineQueueFullError`. After `closed`, rejects with `ConnectionClosedError`; so do the sends
   * still queued then.
   */
  send(header: HeaderInput, content?: Uint8Array): Promise<void> {
    const state = this.states.value;
    if (state.type === 'open' && !state.messenger.closed) return state.messenger.send(header, content);
    if (this.ended || state.type === 'closed') return Promise.reject(new ConnectionClosedError(this.label));
    const doing = state.type === 'open' ? 'retrying' : state.type;
    if (!this.limits) return Promise.reject(new NotConnectedError(this.label, doing));
    let frame: Frame;
    try {
      frame = encodeFrame(header, content);
    } catch (error) {
      return Promise.reject(error);
    }
    const size = frameLength(frame);
    if (this.queue.length + 1 > this.limits.maxMessages || this.queueBytes + size > this.limits.maxBytes) {
      this.overflowed += 1;
      return Promise.reject(new OfflineQueueFullError(this.label, this.queue.length, this.queueBytes, size, this.limits));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ frame, size, resolve, reject });
      this.queueBytes += size;
    });
  }

  /**
   * Stops dialling and closes the current connection (a local close, which flushes). State
   * `closed`; queued sends reject. Resolves when the connection's socket is closed.
   */
  close(): Promise<void> {
    const messenger = this.messenger;
    this.driver.unsubscribe();
    this.finish(undefined);
    return messenger ? messenger.whenSocketClosed() : Promise.resolve();
  }

  private flush(messenger: Messenger): void {
    while (this.queue.length > 0 && !messenger.closed) {
      const item = this.queue.shift()!;
      this.queueBytes -= item.size;
      try {
        messenger.write(item.frame, (error) => (error ? item.reject(error) : item.resolve()));
      } catch (error) {
        item.reject(error);
      }
    }
  }

  private finish(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    for (const item of this.queue.splice(0)) item.reject(new ConnectionClosedError(this.label));
    this.queueBytes = 0;
    this.setState(error === undefined ? { type: 'closed' } : { type: 'closed', error });
  }

  /**
   * Every subscriber sees the states in the same order, even when one of them causes the next
   * state while being told of this one (an "on open" handler that closes the connection).
   */
  private setState(state: ConnectionState): void {
    if (this.pendingStates) {
      this.pendingStates.push(state);
      return;
    }
    this.pendingStates = [state];
    for (let i = 0; i < this.pendingStates.length; i++) {
      const next = this.pendingStates[i]!;
      this.states.next(next);
      if (next.type === 'closed') {
        this.final = of(next);
        this.states.complete();
        break;
      }
    }
    this.pendingStates = undefined;
  }
}

function queueLimits(options: OfflineQueueOptions | undefined): OfflineQueueOptions | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('queueWhileDown', options, 'an object { maxMessages, maxBytes }');
  for (const name of ['maxMessages', 'maxBytes'] as const) {
    const value = options[name];
    if (!Number.isSafeInteger(value) || value < 1) throw new InvalidOptionError(`queueWhileDown.${name}`, value, 'a whole number >= 1');
  }
  return { maxMessages: options.maxMessages, maxBytes: options.maxBytes };
}
