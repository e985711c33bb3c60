/**
 * What Server and Client share: the live list of Messengers, and the two streams merged from
 * theirs. `connections$` merges every Messenger's opening and `closed$`; `incoming$` merges every
 * Messenger's `messages$`. Sending is `writeAll` of `operators.ts` (`sendEach` and `closeOnFailure`
 * in one pass). A connection is
 * admitted (under `maxConnections`), adopted, greeted (`hello`), and, with `authenticate`, joins
 * the live list only once its first message has passed.
 */
import {
  AsyncSubject,
  Observable,
  Subject,
  asyncScheduler,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import { HubStoppedError, InboundBudgetError, TooManyConnectionsError, UnknownConnectionError } from '../errors.js';
import { CloseReasonKind, type Address, type CloseReason } from '../connection/close-reason.js';
import { Messenger, type MessengerOwner, type Transport } from '../connection/messenger.js';
import { DEFAULT_METRICS_INTERVAL_MS, sampleStats } from '../connection/metrics.js';
import { DEFAULT_LINGER_MS, duration } from '../connection/options.js';
import { QueueBudget, type BudgetHolder } from '../connection/queue-budget.js';
import { encodeFrame } from '../protocol/encode.js';
import type { HeaderInput } from '../protocol/message.js';
import { authenticate } from './authenticate.js';
import { resolveHubOptions, type ConnectionSide, type HubOptions, type ResolvedHubOptions } from './hub-options.js';
import { HubTally, RefusalReason, type HubStats } from './hub-stats.js';
import { writeAll, type Received, type SendOutcome } from './operators.js';

export type { ConnectionSide, Hello, HubOptions } from './hub-options.js';

/** Options of `stop()`. */
export interface StopOptions {
  /** How long queued frames may take to flush before each socket is destroyed. Default `lingerMs` (2 s). */
  readonly drainMs?: number;
}

/** A connection opened; `alive` counts the live connections after it. */
export interface ConnectionOpened {
  readonly type: 'open';
  readonly messenger: Messenger;
  readonly alive: number;
}

/** A connection closed, and why; `alive` counts the live connections left (the seed's `alive_client_num`). */
export interface ConnectionClosed {
  readonly type: 'close';
  readonly messenger: Messenger;
  readonly reason: CloseReason;
  readonly alive: number;
}

/** A connection opened or closed. */
export type ConnectionEvent = ConnectionOpened | ConnectionClosed;

/** Narrows a connection event, e.g. `connections$.pipe(filter(isOpened))`. */
export function isOpened(event: ConnectionEvent): event is ConnectionOpened {
  return event.type === 'open';
}

/** Narrows a connection event, e.g. `connections$.pipe(filter(isClosed))`. */
export function isClosed(event: ConnectionEvent): event is ConnectionClosed {
  return event.type === 'close';
}

/** A way to name a connection: the Messenger itself, its id, or its index in `messengers`. */
export type ConnectionRef = Messenger | string | number;

export interface SendOptions {
  /** Close the connection when the send fails (the seed's `close_when_fail`). Default true. */
  readonly closeOnFail?: boolean;
}

/** The received messages of every connection, with their sender. */
export type Incoming = Received<Messenger>;

export class Hub {
  /** Connection events: on subscribe, an `open` for each live connection, then every open and close. */
  readonly connections$: Observable<ConnectionEvent>;
  /** Every message received on any connection, with its sender; completes when the hub stops. */
  readonly incoming$: Observable<Incoming>;
  /** `stats()` at once, then every second, and a last time once stopped; then completes. See `metricsEvery`. */
  readonly metrics$: Observable<HubStats>;

  protected readonly options: HubOptions;
  protected readonly scheduler: SchedulerLike;
  private readonly resolved: ResolvedHubOptions;
  private readonly live = new Map<string, Messenger>();
  /** `live`'s values, made when first asked for after a change: every broadcast between changes shares it. */
  private liveList: readonly Messenger[] | undefined;
  /** Every adopted connection not closed yet: live, or still authenticating. */
  private readonly open = new Set<Messenger>();
  private readonly tally = new HubTally();
  /** Connections waiting for the authentication gate. */
  private readonly gate = new Subject<Messenger>();
  private readonly added = new Subject<Messenger>();
  private readonly stopped$ = new AsyncSubject<void>();
  private drainMs: number;
  private readonly events = new Subject<ConnectionEvent>();
  private readonly stopping = new Subject<void>();
  /** Every adopted Messenger whose socket has not closed yet, live or lingering. */
  private readonly unreleased = new Set<Messenger>();
  private nextId = 1;
  /** The budget every connection charges its queued bytes to (`maxQueuedBytesTotal`). */
  private readonly budget: QueueBudget;
  /** The budget of bytes of partly received frames over all connections (`maxInboundBytesTotal`). */
  private readonly inboundBudget: QueueBudget;
  /** What every connection tells the hub when it closes, and when its socket is released. */
  private readonly owner: MessengerOwner;
  private stopped = false;
  private stopDone: Promise<void> | undefined;

  /**
   * @throws InvalidOptionError naming the first option whose value cannot be used
   */
  constructor(options: HubOptions = {}) {
    this.options = options;
    this.resolved = resolveHubOptions(options);
    this.budget = new QueueBudget(this.resolved.maxQueuedBytesTotal, () => this.unreleased);
    this.inboundBudget = new QueueBudget(
      this.resolved.maxInboundBytesTotal,
      () => inboundHolders(this.unreleased),
      (...args) => new InboundBudgetError(...args),
    );
    this.owner = {
      connectionClosed: (messenger, { reason }) => {
        // Only admitted connections count: one refused past maxConnections was never open.
        if (this.open.delete(messenger)) this.tally.closed(reason, messenger.stats());
      },
      connectionGone: (messenger, reason) => {
        if (this.live.get(messenger.id) === messenger) this.forget(messenger, reason);
      },
      socketReleased: (messenger) => {
        this.unreleased.delete(messenger);
      },
      queueBudget: this.budget,
      inboundBudget: this.resolved.maxInboundBytesTotal > 0 ? this.inboundBudget : undefined,
    };
    this.drainMs = options.lingerMs ?? DEFAULT_LINGER_MS;
    this.scheduler = options.scheduler ?? asyncScheduler;
    if (options.authenticate) {
      this.gate
        .pipe(authenticate(options.authenticate, this.resolved.authTimeoutMs, this.scheduler))
        .subscribe((messenger) => this.added.next(messenger));
    }
    // The hub's own bookkeeping: an open event now, a close event once closed$ has told its
    // subscribers (see `owner`), so that whoever watches a connection's closed$ hears of the close
    // before the hub forgets the connection.
    this.added.subscribe((messenger) => {
      this.live.set(messenger.id, messenger);
      this.liveList = undefined;
      this.events.next({ type: 'open', messenger, alive: this.live.size });
      // Closed while it waited to be let in: the owner's call came before it was live.
      if (messenger.closed) this.forget(messenger, messenger.closeReason!);
    });
    this.connections$ = replayThen(
      () => [...this.live.values()].map((messenger): ConnectionEvent => ({ type: 'open', messenger, alive: this.live.size })),
      this.events,
    );
    this.incoming$ = replayThen(() => [...this.live.values()], this.added).pipe(
      mergeEach(
        (messenger) => messenger.messages$,
        (message, messenger): Incoming => ({ header: message.header, content: message.content, from: messenger }),
      ),
    );
    this.metrics$ = this.metricsEvery(DEFAULT_METRICS_INTERVAL_MS);
  }

  /** Connections open now, live or authenticating (what `stats()` counts, in O(1)). */
  protected get openCount(): number {
    return this.open.size;
  }

  /**
   * A snapshot of the hub: live and authenticating connections, bytes and messages both ways over
   * every connection it has had, bytes queued now, closes and refusals by reason.
   */
  stats(): HubStats {
    let queuedBytes = 0;
    for (const messenger of this.unreleased) queuedBytes += messenger.queuedBytes;
    const open = [...this.open].map((messenger) => messenger.stats());
    return this.tally.snapshot(this.live.size, this.open.size - this.live.size, open, queuedBytes);
  }

  /**
   * `stats()` at once, then every `periodMs` on the hub's scheduler, and a last time once the hub
   * has stopped; then completes. Lazy: nothing runs until subscribed.
   * @example
   * hub.metricsEvery(5000).subscribe(({ connections, queuedBytes, closes }) => console.log(connections, queuedBytes, closes));
   */
  metricsEvery(periodMs: number): Observable<HubStats> {
    return sampleStats(() => this.stats(), periodMs, this.scheduler, this.stopped$);
  }

  /** The live connections, oldest first (the seed's `messengers`). A fresh array each call. */
  get messengers(): Messenger[] {
    return [...this.live.values()];
  }

  /** True once `stop()` was called. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** Finds a live connection by Messenger, id, or index in `messengers`. */
  get(ref: ConnectionRef): Messenger | undefined {
    if (ref instanceof Messenger) return this.live.get(ref.id) === ref ? ref : undefined;
    if (typeof ref === 'number') return Number.isInteger(ref) ? this.messengers[ref] : undefined;
    const byId = this.live.get(ref);
    if (byId) return byId;
    return /^[0-9]+$/.test(ref) ? this.messengers[Number(ref)] : undefined;
  }

  /**
   * Sends to one connection (the seed's `send`). Resolves with the outcome as soon as the frame
   * is accepted into the connection's queue or refused, never waiting for a slow reader (see
   * `Messenger.flushed` for that); a refused send closes the connection unless `closeOnFail` is false.
   * @throws (rejects) UnknownConnectionError, FrameEncodeError
   */
  async send(ref: ConnectionRef, header: HeaderInput, content?: Uint8Array, options: SendOptions = {}): Promise<SendOutcome<Messenger>> {
    const target = this.get(ref);
    if (!target) throw new UnknownConnectionError(ref instanceof Messenger ? ref.id : String(ref));
    const [outcome] = await this.deliver([target], header, content, options.closeOnFail ?? true);
    return outcome!;
  }

  /**
   * Sends to every live connection (the seed's `broadcast`); each failure closes its connection.
   * Resolves with one outcome per connection once the frame was accepted into, or refused by, each
   * one's queue: a stalled reader delays nobody (it is closed by `writeTimeoutMs`, `maxQueueBytes`
   * or `maxQueuedBytesTotal`). The frame is encoded once for all.
   * @throws (rejects) FrameEncodeError, with nothing sent
   */
  broadcast(header: HeaderInput, content?: Uint8Array): Promise<SendOutcome<Messenger>[]> {
    // Never changed once made (writeAll only reads it), so it need not be a fresh copy.
    this.liveList ??= [...this.live.values()];
    return this.deliver(this.liveList, header, content, true);
  }

  /**
   * Sends to the given connections (the seed's `multicast`); each failure closes its connection.
   * Settles as `broadcast` does, once each frame was accepted or refused.
   * A Messenger that is no longer live gets a failed outcome with `UnknownConnectionError`; an id
   * or index that names no live connection rejects with it, before anything is sent.
   */
  async multicast(refs: Iterable<ConnectionRef>, header: HeaderInput, content?: Uint8Array): Promise<SendOutcome<Messenger>[]> {
    const named: Messenger[] = [];
    const live: Messenger[] = [];
    for (const ref of refs) {
      const target = this.get(ref);
      if (target) live.push(target);
      else if (!(ref instanceof Messenger)) throw new UnknownConnectionError(String(ref));
      named.push(target ?? (ref as Messenger));
    }
    const sent = new Map((await this.deliver(live, header, content, true)).map((o) => [o.target, o]));
    return named.map((target) => sent.get(target) ?? { target, ok: false, error: new UnknownConnectionError(target.id) });
  }

  /** Closes one connection (the seed's `_close_client`). Returns false when it is not live. */
  closeConnection(ref: ConnectionRef, reason: CloseReasonKind = CloseReasonKind.Local): boolean {
    const target = this.get(ref);
    target?.close(reason);
    return target !== undefined;
  }

  /**
   * Closes every connection and completes every stream. Resolves when every socket is closed.
   * Subclasses close their listener or pending dials first. Queued frames flush for up to
   * `drainMs` (default `lingerMs`) before the sockets still flushing are destroyed. A second call
   * gets the first call's promise, so it too resolves only when every socket is closed.
   * @example
   * await server.stop({ drainMs: 10_000 });
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (this.stopDone === undefined) {
      try {
        this.drainMs = duration('drainMs', options.drainMs, this.drainMs);
      } catch (error) {
        return Promise.reject(error);
      }
      this.stopDone = this.shutdown().then(() => {
        this.stopped$.next();
        this.stopped$.complete();
      });
    }
    return this.stopDone;
  }

  /** The work of `stop()`, run once. Subclasses extend it (close a listener, abandon dials). */
  protected async shutdown(): Promise<void> {
    this.stopped = true;
    this.stopping.next();
    this.stopping.complete();
    // Connections still authenticating are closed too, so the gate lets nothing in after this.
    for (const messenger of [...this.open]) void messenger.drain(this.drainMs);
    this.gate.complete();
    this.added.complete();
    // Also waits for connections closed before stop() that are still flushing (lingering).
    await Promise.all([...this.unreleased].map((m) => m.whenSocketClosed()));
    this.events.complete();
  }

  /** Emits once when `stop()` starts: for subclasses' and users' `takeUntil`. */
  protected get stopping$(): Observable<void> {
    return this.stopping.asObservable();
  }

  /**
   * Asks whether one more connection may come in; a Server calls it for each accepted socket,
   * before `adopt`. When the hub is stopped or already holds `maxConnections`, destroys the socket,
   * counts the refusal (`stats().refusals`) and returns false.
   * @param pending connections accepted but not adopted yet (TLS handshakes in progress), which
   *   count against `maxConnections` too
   */
  protected admit(socket: Transport, pending = 0): boolean {
    const full = this.open.size + pending >= this.resolved.maxConnections;
    const refusal = this.stopped ? RefusalReason.Stopped : full ? RefusalReason.MaxConnections : undefined;
    if (refusal === undefined) return true;
    this.tally.refused(refusal);
    socket.destroy();
    return false;
  }

  /**
   * Wraps an open socket in a Messenger and adds it to the hub: at once, or once it has passed
   * `authenticate`. `side` picks the defaults of its side: an accepted connection gets the
   * first-message deadline, a dialled one the seed's connection check.
   *
   * Past `maxConnections` (for a caller that did not `admit` first) the socket is destroyed, the
   * refusal counted, and the Messenger returned is already closed as `max-connections`.
   * @throws HubStoppedError when the hub is stopped (the socket is destroyed)
   */
  protected adopt(socket: Transport, addr?: Address, side?: ConnectionSide): Messenger {
    if (this.stopped) {
      socket.destroy();
      throw new HubStoppedError();
    }
    const full = this.open.size >= this.resolved.maxConnections;
    const options = this.resolved.connection[side ?? 'unknown'];
    const messenger = new Messenger(socket, `${this.options.idPrefix ?? 'c'}${this.nextId++}`, options, addr, this.owner);
    // A socket destroyed already is released already: the owner will not hear of it.
    if (!socket.destroyed) this.unreleased.add(messenger);
    if (full) {
      this.tally.refused(RefusalReason.MaxConnections);
      messenger.close(CloseReasonKind.MaxConnections, new TooManyConnectionsError(this.resolved.maxConnections));
      return messenger;
    }
    this.open.add(messenger);
    if (this.resolved.hello) this.greet(messenger, this.resolved.hello);
    if (messenger.closed) return messenger;
    if (this.options.authenticate) this.gate.next(messenger);
    else this.added.next(messenger);
    return messenger;
  }

  /** A live connection closed: out of the live list, and a close event. */
  private forget(messenger: Messenger, reason: CloseReason): void {
    this.live.delete(messenger.id);
    this.liveList = undefined;
    this.events.next({ type: 'close', messenger, reason, alive: this.live.size });
  }

  private greet(messenger: Messenger, hello: readonly Buffer[]): void {
    try {
      messenger.write(hello);
    } catch (error) {
      // Only a hello larger than maxQueueBytes gets here: the connection cannot be used as configured.
      messenger.close(CloseReasonKind.SendFailed, error as Error);
    }
  }

  /**
   * `sendEach` and `closeOnFailure` in one pass (`writeAll`): the outcomes come in the order of the
   * targets, each as its frame is accepted or refused, and nothing is allocated per target but its outcome.
   */
  private deliver(targets: readonly Messenger[], header: HeaderInput, content: Uint8Array | undefined, closeOnFail: boolean): Promise<SendOutcome<Messenger>[]> {
    let frame;
    try {
      // Encoded here so a bad message rejects before anything is sent, and once for every target.
      frame = encodeFrame(header, content);
    } catch (error) {
      return Promise.reject(error);
    }
    return writeAll(targets, frame, closeOnFail);
  }
}

/**
 * `mergeMap(project)` with `select` applied to each inner value, for the hub's per-connection
 * streams: a Set holds the inner subscriptions, so a connection's leaving costs O(1) (mergeMap's
 * array removal costs O(connections), quadratic over a mass close), and `select` runs in the inner
 * observer instead of as one more operator on every message.
 */
function mergeEach<T, I, R = I>(project: (value: T) => Observable<I>, select?: (inner: I, value: T) => R): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      const inners = new Set<Subscription>();
      let sourceDone = false;
      const subscription = source.subscribe({
        next(value) {
          let inner: Subscription | undefined;
          let done = false;
          inner = project(value).subscribe({
            next: select ? (item) => subscriber.next(select(item, value)) : (item) => subscriber.next(item as unknown as R),
            error: (error: unknown) => subscriber.error(error),
            complete() {
              done = true;
              if (inner) inners.delete(inner);
              if (sourceDone && inners.size === 0) subscriber.complete();
            },
          });
          if (!done) inners.add(inner);
        },
        error: (error: unknown) => subscriber.error(error),
        complete() {
          sourceDone = true;
          if (inners.size === 0) subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        for (const inner of inners) inner.unsubscribe();
        inners.clear();
      };
    });
}

/** The inbound holders of the connections that have one (those that held part of a frame). */
function* inboundHolders(messengers: Iterable<Messenger>): Iterable<BudgetHolder> {
  for (const messenger of messengers) {
    const holder = messenger.inboundHolder;
    if (holder !== undefined) yield holder;
  }
}

/**
 * The values of `snapshot()`, then those of `later$`. It listens to `later$` before replaying, so
 * an event caused by a replayed value (a subscriber that closes a connection on its `open`) is held
 * and delivered after the replay instead of lost.
 */
function replayThen<T>(snapshot: () => readonly T[], later$: Observable<T>): Observable<T> {
  return new Observable<T>((subscriber) => {
    let held: T[] | undefined = [];
    let completed = false;
    const subscription = later$.subscribe({
      next: (value) => (held ? held.push(value) : subscriber.next(value)),
      error: (error: unknown) => subscriber.error(error),
      complete: () => (held ? (completed = true) : subscriber.complete()),
    });
    for (const value of snapshot()) subscriber.next(value);
    // Values that arrive while the held ones are delivered join the end of the queue.
    for (let i = 0; i < held.length; i++) subscriber.next(held[i]!);
    held = undefined;
    if (completed) subscriber.complete();
    return subscription;
  });
}
