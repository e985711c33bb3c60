/**
 * The filer peer (the seed's `filer_client`), on the library's public pieces: a `Server` that
 * accepts other peers, a `Client` for the peers it reaches, a connection to the tracker kept up by
 * `Client.dial`, an address book filled from the tracker's broadcasts, chat as `{info: text}`, and a
 * `TransferEngine` serving every peer connection in both directions.
 */
import { stat, mkdir } from 'node:fs/promises';
import {
  BehaviorSubject,
  EMPTY,
  Observable,
  Subject,
  Subscription,
  asyncScheduler,
  filter,
  firstValueFrom,
  map,
  switchMap,
  takeUntil,
  timer,
  type SchedulerLike,
} from 'rxjs';
import { ConnectionClosedError, InvalidOptionError } from '../errors.js';
import { formatAddress, type Address, type CloseReason } from '../connection/close-reason.js';
import type { Messenger } from '../connection/messenger.js';
import { Client, type ClientOptions, type DialOptions } from '../hub/client.js';
import type { Hub } from '../hub/hub.js';
import type { SendOutcome } from '../hub/operators.js';
import type { ConnectionState, ReconnectingConnection } from '../hub/reconnecting-connection.js';
import type { Server, ServerOptions } from '../hub/server.js';
import { sumStats, type HubStats } from '../hub/hub-stats.js';
import { CHECK_HEADER, type Header } from '../protocol/message.js';
import { messageText, textMessage } from '../text/chat-text.js';
import { TransferEngine, type Transfer } from './transfer/engine.js';
import type { TransferOptions } from './transfer/options.js';
import type { TransferSnapshot } from './transfer/events.js';
import { skipTransferMessages } from './transfer/operators.js';
import type { RemoteFile } from './transfer/vocabulary.js';
import { AddressBook, type AddressBookChange } from './address-book.js';
import { UnknownPeerError } from '../errors.js';
import { listenFrom } from './listen.js';
import { sharedSecret } from './secret.js';
import { DEFAULT_REPORT_INTERVAL_MS } from './tracker.js';
import { decodePeerList, isBroadcast, peerIdProblem, reportHeader, type PeerEntry } from './vocabulary.js';

/** The seed's first peer port; a taken port moves the peer to the next one. */
export const DEFAULT_PEER_PORT = 63330;
/** Ports tried from the start port on, the start port included. */
export const DEFAULT_PORT_ATTEMPTS = 100;
/** When the connecting side sends the seed's `{TP: "Check"}`: 5 s after connecting. */
export const DEFAULT_CHECK_AFTER_MS = 5000;
/**
 * The peer's transfer chunk: 1 MiB, where the engine's own default is 256 KiB. Whole files move in
 * a quarter of the messages, acknowledgements and disk operations, which on loopback is worth
 * 10 to 15 % of throughput (`npm run bench:filer`).
 */
export const DEFAULT_PEER_CHUNK_BYTES = 1024 * 1024;
/** The peer's credit window: 4 chunks, so 4 MiB in flight per transfer and side at most. */
export const DEFAULT_PEER_WINDOW = 4;

/** Which side opened a connection: another peer dialled us (`in`), or we dialled it (`out`). */
export type ConnectionDirection = 'in' | 'out';

/** One open connection of the peer, either direction. */
export interface PeerConnection {
  /** `in1`, `in2`, ... for accepted connections, `out1`, ... for dialled ones (the Messenger's id). */
  readonly id: string;
  readonly direction: ConnectionDirection;
  readonly messenger: Messenger;
  /** The other peer's name, when this side dialled a peer of its address book; undefined otherwise. */
  readonly peer: string | undefined;
}

/** What a peer reports, besides the transfer engine's own `events$`. */
export type PeerEvent =
  | { readonly type: 'open'; readonly connection: PeerConnection }
  | { readonly type: 'close'; readonly connection: PeerConnection; readonly reason: CloseReason }
  /** A chat message (any message that is not a transfer message); `text` as the consoles show it. */
  | {
      readonly type: 'message';
      readonly connection: PeerConnection;
      readonly header: Header;
      readonly content: Buffer;
      readonly text?: string;
    }
  /** The connection to the tracker changed state (`connecting`, `open`, `retrying`, `closed`). */
  | { readonly type: 'tracker'; readonly address: Address; readonly state: ConnectionState }
  /** A broadcast changed the address book; `entries` is the book now. */
  | ({ readonly type: 'address-book'; readonly entries: readonly PeerEntry[] } & AddressBookChange);

export interface PeerOptions {
  /** The name this peer reports to the tracker: no spaces, control characters, `:`, `;` or `,`. */
  readonly id: string;
  /** Address to listen on. Default `127.0.0.1`; `0.0.0.0` to be reachable from other machines. */
  readonly host?: string;
  /** First port to try; a taken port moves on to the next. 0: an ephemeral port. Default 63330. */
  readonly port?: number;
  /** Ports to try from `port` on. Default 100. */
  readonly portAttempts?: number;
  /** The tracker to report to and hear the address book from. Default: none. */
  readonly tracker?: Address;
  /** Time between two reports to the tracker. Default 2000 ms. */
  readonly reportIntervalMs?: number;
  /** Backoff of the tracker connection (see `Client.dial`). Default: its defaults. */
  readonly trackerDial?: Omit<DialOptions, 'queueWhileDown'>;
  /** Delay of the `{TP: "Check"}` the connecting side sends, as the seed did. 0: never. Default 5000 ms. */
  readonly checkAfterMs?: number;
  /** The folder peers may list and get from. Must exist. */
  readonly shareDir: string;
  /** Where gets and peers' puts land. Made if missing. */
  readonly downloadsDir: string;
  /**
   * The transfer engine's other options (size limit, ...). The peer's defaults differ from the
   * engine's in two: `chunkBytes` 1 MiB and `window` 4.
   */
  readonly transfer?: Omit<TransferOptions, 'shareDir' | 'downloadsDir' | 'scheduler'>;
  /**
   * Options of the server that accepts other peers: limits (`maxConnections`, `maxContentBytes`,
   * ...) and `tls`. Keep `maxContentBytes` above the transfer chunk (1 MiB). Default: the hub's.
   */
  readonly serverOptions?: Omit<ServerOptions, 'host' | 'port' | 'idPrefix' | 'scheduler'>;
  /** Options of the clients that dial other peers and the tracker: limits and `tls`. Default: the hub's. */
  readonly clientOptions?: Omit<ClientOptions, 'idPrefix' | 'scheduler'>;
  /**
   * A secret shared by the tracker and the peers: this peer says it first on every connection it
   * dials, and closes accepted connections that do not (`auth-failed`, `auth-timeout`). Default: none.
   */
  readonly secret?: string | Uint8Array;
  /** Clock of reports, checks and transfer rates. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

interface Target extends Address {
  /** The name in the address book, when the target is listed. */
  readonly peer: string | undefined;
}

/**
 * A peer of the filer: listens, reports to a tracker, keeps an address book, chats and transfers
 * files with other peers.
 *
 * `<peer>` arguments (`connect`, `send`, `list`, `get`, `put`) name an open connection (`in1`,
 * `out2`), a name of the address book, `host:port`, or an index in `connections`, in that order.
 * A peer named by its name or address is connected to on demand, and its connection reused.
 *
 * @example
 * const alice = await Peer.start({ id: 'alice', tracker: { host: '127.0.0.1', port: 5000 }, shareDir: './share', downloadsDir: './downloads' });
 * alice.events$.subscribe((e) => e.type === 'message' && console.log(e.connection.peer ?? e.connection.id, e.text));
 * await firstValueFrom(alice.addressBook$.pipe(filter((book) => book.some((p) => p.id === 'bob'))));
 * await alice.send('bob', 'hello');
 * const download = await alice.get('bob', 'big.bin');
 * console.log(formatSummary(await download.done));
 * await alice.stop();
 */
export class Peer {
  /** This peer's name. */
  readonly id: string;
  /** Accepts the peers that dial this one (connection ids `in1`, ...). */
  readonly server: Server;
  /** Dials the peers this one reaches (connection ids `out1`, ...). */
  readonly client: Client;
  /** Serves and runs the transfers of every peer connection. */
  readonly engine: TransferEngine;
  /** The connection to the tracker, when there is one. */
  readonly tracker: ReconnectingConnection | undefined;
  /** Opens, closes, chat, tracker states and address-book changes; hot, completes on `stop()`. */
  readonly events$: Observable<PeerEvent>;
  /** The address book on subscribe, then after every change; completes on `stop()`. */
  readonly addressBook$: Observable<readonly PeerEntry[]>;

  private readonly scheduler: SchedulerLike;
  private readonly checkAfterMs: number;
  private readonly book: AddressBook;
  private readonly books = new BehaviorSubject<readonly PeerEntry[]>([]);
  private readonly events = new Subject<PeerEvent>();
  private readonly open = new Map<Messenger, PeerConnection>();
  private readonly dialling = new Map<string, Promise<PeerConnection>>();
  /** Names of the peers being dialled, by the address dialled. */
  private readonly labels = new Map<string, string>();
  private readonly trackerClient: Client | undefined;
  private readonly subscription = new Subscription();
  private sameName = '';
  private stopping: Promise<void> | undefined;

  /**
   * Checks the options, listens (the start port or the next free one), and starts reporting to
   * the tracker when there is one. Resolves once listening.
   * @throws (rejects) InvalidOptionError naming a bad option (a missing shared folder included);
   * PortsInUseError; the listener's error for an address that cannot be used
   */
  static async start(options: PeerOptions): Promise<Peer> {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object');
    const problem = peerIdProblem(options.id);
    if (problem) throw new InvalidOptionError('id', options.id, problem);
    const port = options.port ?? DEFAULT_PEER_PORT;
    if (!Number.isSafeInteger(port) || port < 0 || port > 65535) throw new InvalidOptionError('port', port, 'a port number from 0 to 65535');
    whole('reportIntervalMs', options.reportIntervalMs, 1);
    whole('checkAfterMs', options.checkAfterMs, 0);
    if (options.tracker !== undefined) {
      const { host, port: trackerPort } = options.tracker ?? {};
      if (typeof host !== 'string' || host === '' || !Number.isSafeInteger(trackerPort) || trackerPort < 1 || trackerPort > 65535) {
        throw new InvalidOptionError('tracker', options.tracker, 'a { host, port } address');
      }
    }
    const scheduler = options.scheduler ?? asyncScheduler;
    const secret = options.secret === undefined ? undefined : sharedSecret(options.secret);
    const engine = new TransferEngine({
      chunkBytes: DEFAULT_PEER_CHUNK_BYTES,
      window: DEFAULT_PEER_WINDOW,
      ...options.transfer,
      shareDir: options.shareDir,
      downloadsDir: options.downloadsDir,
      scheduler,
    });
    await folders(options.shareDir, options.downloadsDir);
    const server = await listenFrom(
      { ...options.serverOptions, ...(secret ? { authenticate: secret.authenticate } : {}), host: options.host ?? '127.0.0.1', port, idPrefix: 'in', scheduler },
      options.portAttempts ?? DEFAULT_PORT_ATTEMPTS,
    );
    const clientOptions: ClientOptions = { ...options.clientOptions, ...(secret ? { hello: secret.hello } : {}), connectCheckMs: 0, scheduler };
    return new Peer(options, server, engine, scheduler, clientOptions);
  }

  private constructor(options: PeerOptions, server: Server, engine: TransferEngine, scheduler: SchedulerLike, clientOptions: ClientOptions) {
    this.id = options.id;
    this.server = server;
    this.engine = engine;
    this.scheduler = scheduler;
    this.checkAfterMs = options.checkAfterMs ?? DEFAULT_CHECK_AFTER_MS;
    // The peer sends the seed's check itself, at checkAfterMs whatever was sent before, as the seed did.
    this.client = new Client({ ...clientOptions, idPrefix: 'out' });
    this.book = new AddressBook({ id: this.id, port: this.address.port });
    this.events$ = this.events.asObservable();
    this.addressBook$ = this.books.asObservable();
    this.watch(server, 'in');
    this.watch(this.client, 'out');
    if (options.tracker) {
      // A hub of its own, so that the tracker's connection is never a peer connection.
      this.trackerClient = new Client({ ...clientOptions, idPrefix: 'tracker' });
      this.tracker = this.trackerClient.dial(options.tracker.host, options.tracker.port, options.trackerDial);
      this.report(this.tracker, options.reportIntervalMs ?? DEFAULT_REPORT_INTERVAL_MS);
    }
  }

  /** The address this peer listens on; `port` is the one it reports. */
  get address(): Address {
    return this.server.address;
  }

  /** The other peers, as the tracker's latest broadcast lists them (this peer left out). */
  get addressBook(): PeerEntry[] {
    return this.book.entries;
  }

  /** The open connections, both directions, oldest first. */
  get connections(): PeerConnection[] {
    return [...this.open.values()];
  }

  /** The stats of the peer's hubs added up: the server, the client and the tracker's connection. */
  stats(): HubStats {
    return sumStats([this.server.stats(), this.client.stats(), ...(this.trackerClient ? [this.trackerClient.stats()] : [])]);
  }

  /** The transfer engine's transfers: active ones and the latest ended ones. */
  get transfers(): TransferSnapshot[] {
    return this.engine.transfers;
  }

  /**
   * A connection to a peer named by its name in the address book or by `host:port`: the open
   * connection this side dialled to that address, or a new one.
   * @throws (rejects) UnknownPeerError; ConnectFailedError
   */
  connect(ref: string): Promise<PeerConnection> {
    const target = this.lookup(ref);
    if (!target) return Promise.reject(new UnknownPeerError(ref));
    return this.reach(target);
  }

  /**
   * The connection a `<peer>` argument names: an open connection by id, else a peer by name or
   * `host:port` (connected on demand), else an open connection by index.
   * @throws (rejects) UnknownPeerError; ConnectFailedError
   */
  async connectionTo(ref: string): Promise<PeerConnection> {
    const byId = this.connections.find((connection) => connection.id === ref);
    if (byId) return byId;
    const target = this.lookup(ref);
    if (target) return this.reach(target);
    const byIndex = /^[0-9]+$/.test(ref) ? this.connections[Number(ref)] : undefined;
    if (byIndex) return byIndex;
    throw new UnknownPeerError(ref);
  }

  /**
   * Sends chat text to one peer: `{info: text}`, or the text as content when a header value cannot
   * carry it (`:` or `;`). A failed send closes the connection.
   * @throws (rejects) UnknownPeerError, ConnectFailedError, the send's error
   */
  async send(ref: string, text: string): Promise<PeerConnection> {
    const connection = await this.connectionTo(ref);
    const { header, content } = textMessage(text);
    const outcome = await this.hubOf(connection).send(connection.messenger, header, content);
    if (!outcome.ok) throw outcome.error;
    return connection;
  }

  /** Sends chat text to every open connection, both directions; one outcome per connection. */
  async broadcast(text: string): Promise<SendOutcome<Messenger>[]> {
    const { header, content } = textMessage(text);
    const outcomes = await Promise.all([this.server.broadcast(header, content), this.client.broadcast(header, content)]);
    return outcomes.flat();
  }

  /** The files a peer shares: name and size, sorted by name. */
  async list(ref: string): Promise<RemoteFile[]> {
    return this.engine.list((await this.connectionTo(ref)).messenger);
  }

  /** Downloads a peer's shared file into the downloads folder (as `as`, default the same name). */
  async get(ref: string, name: string, as?: string): Promise<Transfer> {
    return this.engine.get((await this.connectionTo(ref)).messenger, name, as);
  }

  /** Uploads a local file into a peer's downloads folder (as `as`, default its base name). */
  async put(ref: string, file: string, as?: string): Promise<Transfer> {
    return this.engine.put((await this.connectionTo(ref)).messenger, file, as);
  }

  /** Cancels a transfer by id (`t3`) on both sides; false when no such transfer is active. */
  cancel(id: string): boolean {
    return this.engine.cancel(id);
  }

  /**
   * Cancels the active transfers, stops reporting, closes every connection; resolves when every
   * socket and file is closed.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.engine.stop();
      await Promise.all([this.trackerClient?.stop(), this.client.stop(), this.server.stop()]);
      this.subscription.unsubscribe();
      this.books.complete();
      this.events.complete();
    })();
    return this.stopping;
  }

  private watch(hub: Hub, direction: ConnectionDirection): void {
    this.subscription.add(
      hub.connections$.subscribe((event) => {
        if (event.type === 'open') this.opened(event.messenger, direction);
        else this.closed(event.messenger, event.reason);
      }),
    );
    this.subscription.add(
      hub.incoming$.pipe(skipTransferMessages()).subscribe(({ from, header, content }) => {
        const connection = this.open.get(from);
        if (!connection) return;
        const text = messageText({ header, content });
        this.events.next({ type: 'message', connection, header, content, ...(text === undefined ? {} : { text }) });
      }),
    );
  }

  private opened(messenger: Messenger, direction: ConnectionDirection): void {
    const peer =
      direction === 'out' ? (this.labels.get(formatAddress(messenger.addr)) ?? this.book.at(messenger.addr.host, messenger.addr.port)?.id) : undefined;
    const connection: PeerConnection = Object.freeze({ id: messenger.id, direction, messenger, peer });
    this.open.set(messenger, connection);
    this.engine.attach(messenger);
    if (direction === 'out' && this.checkAfterMs > 0) {
      this.subscription.add(
        timer(this.checkAfterMs, this.scheduler)
          .pipe(takeUntil(messenger.closed$))
          .subscribe(() => messenger.send(CHECK_HEADER).catch(noop)),
      );
    }
    this.events.next({ type: 'open', connection });
  }

  private closed(messenger: Messenger, reason: CloseReason): void {
    const connection = this.open.get(messenger);
    if (!connection) return;
    this.open.delete(messenger);
    this.events.next({ type: 'close', connection, reason });
  }

  /** Reports `{ID, Port}` at once on every (re)connect, then every interval; reads the broadcasts. */
  private report(link: ReconnectingConnection, intervalMs: number): void {
    const address = link.address;
    this.subscription.add(link.state$.subscribe((state) => this.events.next({ type: 'tracker', address, state })));
    this.subscription.add(
      link.state$
        .pipe(switchMap((state) => (state.type === 'open' ? timer(0, intervalMs, this.scheduler).pipe(map(() => state.messenger)) : EMPTY)))
        .subscribe((messenger) => messenger.send(reportHeader(this.id, this.address.port)).catch(noop)),
    );
    this.subscription.add(link.messages$.pipe(filter(isBroadcast)).subscribe(({ content }) => this.updateBook(content)));
  }

  private updateBook(body: Buffer): void {
    const change = this.book.update(decodePeerList(body).entries);
    const sameName = change.sameName.map(formatAddress).join(' ');
    const renamed = sameName !== this.sameName;
    this.sameName = sameName;
    if (change.joined.length + change.left.length + change.moved.length === 0 && !(renamed && sameName !== '')) return;
    const entries = this.book.entries;
    this.books.next(entries);
    this.events.next({ type: 'address-book', entries, ...change });
  }

  private lookup(ref: string): Target | undefined {
    const listed = this.book.get(ref);
    if (listed) return { host: listed.host, port: listed.port, peer: listed.id };
    const address = parseAddress(ref);
    return address && { ...address, peer: this.book.at(address.host, address.port)?.id };
  }

  private reach(target: Target): Promise<PeerConnection> {
    const known = this.connections.find(
      ({ direction, messenger }) => direction === 'out' && messenger.addr.host === target.host && messenger.addr.port === target.port,
    );
    if (known) return Promise.resolve(known);
    const key = formatAddress(target);
    const pending = this.dialling.get(key);
    if (pending) return pending;
    if (target.peer) this.labels.set(key, target.peer);
    const dial = firstValueFrom(this.client.connect(target.host, target.port))
      .then((messenger) => {
        const connection = this.open.get(messenger);
        if (!connection) throw new ConnectionClosedError(messenger.id);
        return connection;
      })
      .finally(() => {
        this.dialling.delete(key);
        this.labels.delete(key);
      });
    this.dialling.set(key, dial);
    return dial;
  }

  private hubOf(connection: PeerConnection): Hub {
    return connection.direction === 'in' ? this.server : this.client;
  }
}

/**
 * Reads `host:port` or `[v6-address]:port`; undefined when the text is not one.
 * @example
 * parseAddress('127.0.0.1:63330') // { host: '127.0.0.1', port: 63330 }
 */
export function parseAddress(text: string): Address | undefined {
  const match = /^\[([^\]\s]+)\]:([0-9]{1,5})$/.exec(text) ?? /^([^\s:[\]]+):([0-9]{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  return port >= 1 && port <= 65535 ? { host: match[1]!, port } : undefined;
}

async function folders(shareDir: string, downloadsDir: string): Promise<void> {
  const share = await stat(shareDir).catch(() => undefined);
  if (!share?.isDirectory()) throw new InvalidOptionError('shareDir', shareDir, 'an existing folder');
  await mkdir(downloadsDir, { recursive: true });
}

function whole(name: string, value: number | undefined, min: number): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < min || value > 2 ** 31 - 1)) {
    throw new InvalidOptionError(name, value, `a whole number of milliseconds from ${min} to 2147483647`);
  }
}

function noop(): void {}
