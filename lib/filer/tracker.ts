/**
 * The tracker (the seed's `ip_server`): it keeps a table of the peers that report `{ID, Port}`,
 * and every interval sends the live ones the whole table as `{Broadcast: ""}` with the body
 * `ID,IP,Port;...`, where IP is the address it sees each peer at. A peer leaves the table when its
 * reports stop for `expireMs` (the seed meant this and wrote 3,000 seconds: defect 9) or when its
 * connection closes.
 *
 * All its timing (the broadcast interval, each peer's expiry) runs on an injected scheduler, and it
 * reads any source of received messages and connection events: a `Server`, a `MemoryHub`, or plain
 * observables in a marble test.
 */
import { Observable, Subject, Subscription, asyncScheduler, filter, interval, of, type SchedulerLike } from 'rxjs';
import { InvalidOptionError } from '../errors.js';
import type { Address } from '../connection/close-reason.js';
import type { Messenger, Target } from '../connection/messenger.js';
import { Server, type ServerOptions } from '../hub/server.js';
import { closeOnFailure, sendEach, type Received } from '../hub/operators.js';
import { sharedSecret } from './secret.js';
import { listedPeers, type SharedPeerTable } from './shared-table.js';
import { BROADCAST_HEADER, encodePeerList, listedHost, parseReport, type PeerEntry } from './vocabulary.js';

/** The seed's tracker port. */
export const DEFAULT_TRACKER_PORT = 5000;
/** How often peers report and the tracker broadcasts: 2 s, as the seed. */
export const DEFAULT_REPORT_INTERVAL_MS = 2000;
/** How long a peer stays listed after its latest report: 6 s, three missed reports. */
export const DEFAULT_EXPIRE_MS = 6000;

/** What the tracker needs of a connection: a target to write the broadcast to, and its address. */
export interface TrackerConnection extends Target {
  readonly addr: Address;
}

/** Where the tracker's input comes from: a hub (`Server`, `MemoryHub`) has both streams. */
export interface TrackerSource<T extends TrackerConnection> {
  readonly incoming$: Observable<Received<T>>;
  readonly connections$: Observable<{ readonly type: 'open' | 'close'; readonly messenger: T }>;
}

export interface TrackerOptions {
  /** Time between two broadcasts of the table. Default 2000 ms. */
  readonly intervalMs?: number;
  /** A peer whose latest report is this old leaves the table. Default 6000 ms. */
  readonly expireMs?: number;
  /** Clock of the interval and the expiries; a `TestScheduler` in marble tests. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /**
   * A peer table shared with other trackers (e.g. `RedisPeerTable` of `rx-tcp-hub/redis`): reports
   * are written to it, and broadcasts list every peer it holds. Default: none (this tracker's own).
   */
  readonly shared?: SharedPeerTable;
}

/** `Tracker.listen`'s options: where to listen, the server's limits and TLS, and the tracker's own. */
export interface TrackerListenOptions extends ServerOptions, TrackerOptions {
  /**
   * Accept only peers whose first message carries this secret (peers started with the same
   * `secret`); the others are closed as `auth-failed` or `auth-timeout`. Default: none.
   */
  readonly secret?: string | Uint8Array;
}

/** One peer of the table: as the broadcast lists it, and where and when it last reported. */
export interface TrackedPeer<T extends TrackerConnection = Messenger> extends PeerEntry {
  /** The connection its latest report came on (the broadcast goes there). */
  readonly connection: T;
  /** Scheduler time of its first report, and of its latest. */
  readonly joinedAt: number;
  readonly reportedAt: number;
}

/** Why a peer left the table. */
export type LeaveReason = 'expired' | 'closed';

/** What the tracker reports. */
export type TrackerEvent<T extends TrackerConnection = Messenger> =
  /** A name reported for the first time (or again, after it left). */
  | { readonly type: 'join'; readonly peer: TrackedPeer<T> }
  /** A listed name reported from another address, port or connection; `from` is where it was. */
  | { readonly type: 'move'; readonly peer: TrackedPeer<T>; readonly from: TrackedPeer<T> }
  /** A name left the table: its reports stopped for `expireMs`, or its connection closed. */
  | { readonly type: 'leave'; readonly peer: TrackedPeer<T>; readonly reason: LeaveReason }
  /** The table went to every listed peer; `body` is the content sent. */
  | { readonly type: 'broadcast'; readonly peers: readonly TrackedPeer<T>[]; readonly body: Buffer }
  /** A report that cannot be listed (a bad port, a name with `,`); the connection stays open. */
  | { readonly type: 'invalid-report'; readonly connection: T; readonly error: Error };

interface Entry<T extends TrackerConnection> {
  readonly peer: TrackedPeer<T>;
  readonly expiry: Subscription;
}

/**
 * Keeps the peer table of a hub and broadcasts it.
 *
 * @example
 * const tracker = await Tracker.listen({ host: '0.0.0.0', port: 5000 });
 * tracker.events$.subscribe((e) => {
 *   if (e.type === 'join') console.log('join', e.peer.id, `${e.peer.host}:${e.peer.port}`);
 *   if (e.type === 'leave') console.log('leave', e.peer.id, e.reason);
 * });
 * // later
 * await tracker.stop();
 *
 * @example
 * // On a hub of your own, with a scheduler of your own (a TestScheduler in a marble test):
 * const tracker = new Tracker(new MemoryHub({ scheduler }), { intervalMs: 20, expireMs: 60, scheduler });
 */
export class Tracker<T extends TrackerConnection = Messenger> {
  /** Joins, moves, leaves, broadcasts and refused reports; hot, completes on `stop()`. */
  readonly events$: Observable<TrackerEvent<T>>;
  /** The options in effect. */
  readonly options: { readonly intervalMs: number; readonly expireMs: number; readonly scheduler: SchedulerLike };
  /** The server `Tracker.listen` made (and `stop()` stops); undefined for a tracker on a hub of yours. */
  readonly server: Server | undefined;

  private readonly events = new Subject<TrackerEvent<T>>();
  private readonly table = new Map<string, Entry<T>>();
  private readonly shared: SharedPeerTable | undefined;
  private readonly subscription = new Subscription();
  private stopped: Promise<void> | undefined;

  /**
   * Starts tracking at once: reports are read from `source.incoming$` from now on, closes from
   * `source.connections$`, and the first broadcast is one interval from now. The hub stays yours.
   * @throws InvalidOptionError for an interval or expiry that is not a whole number of ms > 0
   */
  constructor(source: TrackerSource<T>, options: TrackerOptions = {}, server?: Server) {
    this.options = {
      intervalMs: positive('intervalMs', options.intervalMs, DEFAULT_REPORT_INTERVAL_MS),
      expireMs: positive('expireMs', options.expireMs, DEFAULT_EXPIRE_MS),
      scheduler: options.scheduler ?? asyncScheduler,
    };
    this.server = server;
    this.shared = options.shared;
    this.events$ = this.events.asObservable();
    this.subscription.add(source.incoming$.subscribe((message) => this.receive(message)));
    this.subscription.add(
      source.connections$.pipe(filter((event) => event.type === 'close')).subscribe(({ messenger }) => this.dropConnection(messenger)),
    );
    this.subscription.add(interval(this.options.intervalMs, this.options.scheduler).subscribe(() => this.broadcast()));
  }

  /**
   * Listens (default `127.0.0.1:5000`) and tracks the peers that connect; `stop()` stops the server too.
   * @throws (rejects) the listener's error when the address cannot be bound; InvalidOptionError
   */
  static async listen(options: TrackerListenOptions = {}): Promise<Tracker<Messenger>> {
    const { intervalMs, expireMs, scheduler, secret, shared, ...serverOptions } = options;
    const trackerOptions = { intervalMs, expireMs, scheduler, shared };
    // Checked before anything listens.
    positive('intervalMs', intervalMs, DEFAULT_REPORT_INTERVAL_MS);
    positive('expireMs', expireMs, DEFAULT_EXPIRE_MS);
    const gate = secret === undefined ? {} : { authenticate: sharedSecret(secret).authenticate };
    const server = await Server.listen({ host: '127.0.0.1', port: DEFAULT_TRACKER_PORT, ...serverOptions, ...gate, ...(scheduler ? { scheduler } : {}) });
    return new Tracker(server, trackerOptions, server);
  }

  /** The listed peers, in the order they joined. */
  get peers(): TrackedPeer<T>[] {
    return [...this.table.values()].map((entry) => entry.peer);
  }

  /** Stops tracking (and the server `listen` made): no more broadcasts, `events$` completes. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.subscription.unsubscribe();
      for (const entry of this.table.values()) entry.expiry.unsubscribe();
      this.table.clear();
      this.events.complete();
      await this.server?.stop();
    })();
    return this.stopped;
  }

  private receive(message: Received<T>): void {
    const report = parseReport(message);
    if (report === undefined) return;
    if (report instanceof Error) {
      this.events.next({ type: 'invalid-report', connection: message.from, error: report });
      return;
    }
    const { scheduler, expireMs } = this.options;
    const now = scheduler.now();
    const known = this.table.get(report.id);
    known?.expiry.unsubscribe();
    const peer: TrackedPeer<T> = Object.freeze({
      id: report.id,
      host: listedHost(message.from.addr.host),
      port: report.port,
      connection: message.from,
      joinedAt: known ? known.peer.joinedAt : now,
      reportedAt: now,
    });
    // Map.set on a known name keeps its place: the broadcast lists peers in the order they joined.
    this.table.set(report.id, { peer, expiry: scheduler.schedule(() => this.leave(report.id, 'expired'), expireMs) });
    this.shared?.report(peer);
    if (!known) {
      this.events.next({ type: 'join', peer });
    } else if (known.peer.host !== peer.host || known.peer.port !== peer.port || known.peer.connection !== peer.connection) {
      this.events.next({ type: 'move', peer, from: known.peer });
    }
  }

  private dropConnection(connection: T): void {
    for (const [id, entry] of this.table) {
      if (entry.peer.connection === connection) this.leave(id, 'closed');
    }
  }

  private leave(id: string, reason: LeaveReason): void {
    const entry = this.table.get(id);
    if (!entry) return;
    entry.expiry.unsubscribe();
    this.table.delete(id);
    // An expiry is the shared table's own business: the peer may report to another tracker now.
    if (reason === 'closed') this.shared?.remove(id);
    this.events.next({ type: 'leave', peer: entry.peer, reason });
  }

  private broadcast(): void {
    const peers = this.peers;
    if (peers.length === 0) return;
    const body = encodePeerList(this.shared ? listedPeers(peers, this.shared.entries()) : peers);
    this.events.next({ type: 'broadcast', peers, body });
    // One frame for every connection that reported; a connection that cannot take it is closed
    // (and so leaves the table), as the seed's broadcast closed the peers it failed to reach.
    const targets = [...new Set(peers.map((peer) => peer.connection))];
    of({ targets, header: BROADCAST_HEADER, content: body }).pipe(sendEach<T>(), closeOnFailure()).subscribe();
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > 2 ** 31 - 1) {
    throw new InvalidOptionError(name, value, 'a whole number of milliseconds from 1 to 2147483647');
  }
  return value;
}
