/**
 * What Server and Client share: the live list of Messengers, and the two streams merged from
 * theirs. `connections$` merges every Messenger's opening and `closed$`; `incoming$` merges every
 * Messenger's `messages$`. Sending is a chain of the operators in `operators.ts`.
 */
import {
  Observable,
  Subject,
  asyncScheduler,
  concat,
  lastValueFrom,
  map,
  mergeMap,
  of,
  toArray,
  type SchedulerLike,
} from 'rxjs';
import { HubStoppedError, UnknownConnectionError } from '../errors.js';
import { CloseReasonKind, type Address, type CloseReason } from '../connection/close-reason.js';
import { Messenger, type MessengerOptions, type Transport } from '../connection/messenger.js';
import { encodeFrame } from '../protocol/encode.js';
import type { HeaderInput } from '../protocol/message.js';
import { closeOnFailure, sendEach, type Received, type SendOutcome } from './operators.js';

export interface HubOptions extends MessengerOptions {
  /** Prefix of connection ids: `c` gives `c1`, `c2`, ... Default `c`. */
  readonly idPrefix?: string;
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

  protected readonly options: HubOptions;
  protected readonly scheduler: SchedulerLike;
  private readonly live = new Map<string, Messenger>();
  private readonly added = new Subject<Messenger>();
  private readonly events = new Subject<ConnectionEvent>();
  private readonly stopping = new Subject<void>();
  /** Every adopted Messenger whose socket has not closed yet, live or lingering. */
  private readonly unreleased = new Set<Messenger>();
  private nextId = 1;
  private stopped = false;
  private stopDone: Promise<void> | undefined;

  constructor(options: HubOptions = {}) {
    this.options = options;
    this.scheduler = options.scheduler ?? asyncScheduler;
    // The hub's own bookkeeping is one subscription to the merged open/close stream.
    this.added
      .pipe(
        mergeMap((messenger) =>
          concat(
            of({ type: 'open' as const, messenger }),
            messenger.closed$.pipe(map((reason) => ({ type: 'close' as const, messenger, reason }))),
          ),
        ),
      )
      .subscribe((event) => {
        if (event.type === 'open') this.live.set(event.messenger.id, event.messenger);
        else this.live.delete(event.messenger.id);
        this.events.next({ ...event, alive: this.live.size });
      });
    this.connections$ = replayThen(
      () => [...this.live.values()].map((messenger): ConnectionEvent => ({ type: 'open', messenger, alive: this.live.size })),
      this.events,
    );
    this.incoming$ = replayThen(() => [...this.live.values()], this.added).pipe(
      mergeMap((messenger) =>
        messenger.messages$.pipe(map((message): Incoming => ({ header: message.header, content: message.content, from: messenger }))),
      ),
    );
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
   * Sends to one connection (the seed's `send`). Resolves with the outcome; a failed send closes
   * the connection unless `closeOnFail` is false.
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
   * Resolves with one outcome per connection. The frame is encoded once for all.
   * @throws (rejects) FrameEncodeError, with nothing sent
   */
  broadcast(header: HeaderInput, content?: Uint8Array): Promise<SendOutcome<Messenger>[]> {
    return this.deliver(this.messengers, header, content, true);
  }

  /**
   * Sends to the given connections (the seed's `multicast`); each failure closes its connection.
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
   * Subclasses close their listener or pending dials first. A second call gets the first call's
   * promise, so it too resolves only when every socket is closed.
   */
  stop(): Promise<void> {
    this.stopDone ??= this.shutdown();
    return this.stopDone;
  }

  /** The work of `stop()`, run once. Subclasses extend it (close a listener, abandon dials). */
  protected async shutdown(): Promise<void> {
    this.stopped = true;
    this.stopping.next();
    this.stopping.complete();
    for (const messenger of this.messengers) messenger.close(CloseReasonKind.Local);
    this.added.complete();
    // Also waits for connections closed before stop() that are still flushing (lingering).
    await Promise.all([...this.unreleased].map((m) => m.whenSocketClosed()));
    this.events.complete();
  }

  /** Emits once when `stop()` starts: for subclasses' and users' `takeUntil`. */
  protected get stopping$(): Observable<void> {
    return this.stopping.asObservable();
  }

  /** Wraps an open socket in a Messenger and adds it to the hub. */
  protected adopt(socket: Transport, addr?: Address): Messenger {
    if (this.stopped) {
      socket.destroy();
      throw new HubStoppedError();
    }
    const messenger = new Messenger(socket, `${this.options.idPrefix ?? 'c'}${this.nextId++}`, this.options, addr);
    this.unreleased.add(messenger);
    void messenger.whenSocketClosed().then(() => this.unreleased.delete(messenger));
    this.added.next(messenger);
    return messenger;
  }

  private async deliver(targets: Messenger[], header: HeaderInput, content: Uint8Array | undefined, closeOnFail: boolean): Promise<SendOutcome<Messenger>[]> {
    // Encoded here so a bad message rejects before anything is sent, and once for every target.
    const frame = encodeFrame(header, content);
    const chain = of({ targets, header, content, frame }).pipe(sendEach<Messenger>());
    const outcomes = await lastValueFrom((closeOnFail ? chain.pipe(closeOnFailure()) : chain).pipe(toArray()));
    // Reported in the order of the targets, not of settling.
    const order = new Map(targets.map((target, i) => [target, i]));
    return outcomes.sort((a, b) => order.get(a.target)! - order.get(b.target)!);
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
