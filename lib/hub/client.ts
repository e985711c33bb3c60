/**
 * A hub of outgoing connections (the seed's `Client`): `connect` dials once, `dial` keeps a
 * connection up, dialling again with backoff whenever it closes. Either may use TLS.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { ConnectionOptions, SecureContext } from 'node:tls';
import { Observable, Subject } from 'rxjs';
import { ConnectFailedError, HubStoppedError, InvalidOptionError, TooManyConnectionsError } from '../errors.js';
import type { Messenger } from '../connection/messenger.js';
import { Hub, type HubOptions } from './hub.js';
import { DEFAULT_MAX_CONNECTIONS } from './hub-options.js';
import { ReconnectingConnection, type ReconnectingOptions } from './reconnecting-connection.js';
import { nodeTls, secureContextOf } from './tls.js';

/** Default time a dial may take before it fails with `ERR_CONNECT_FAILED`. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface ClientOptions extends HubOptions {
  /** Time a dial may take. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /**
   * Dial with TLS, with these `node:tls` options (`ca` to trust a private CA; `cert` and `key` for
   * mutual TLS). A dial succeeds once the handshake is done. Default: plain TCP.
   */
  readonly tls?: ConnectionOptions;
}

/** Options of one dial. */
export interface ConnectOptions {
  /** TLS options for this dial instead of the client's `tls`; `false` dials plain TCP. */
  readonly tls?: ConnectionOptions | false;
}

/** Options of `dial`: the backoff, the bounded queue for sends while down, and TLS. */
export interface DialOptions extends Omit<ReconnectingOptions, 'scheduler'>, ConnectOptions {}

/** The outcome of one dial: the seed's `connect_success_callback` / `connect_fail_callback`. */
export type DialEvent =
  | { readonly type: 'connected'; readonly host: string; readonly port: number; readonly messenger: Messenger }
  | { readonly type: 'failed'; readonly host: string; readonly port: number; readonly error: ConnectFailedError };

/**
 * @example
 * const client = new Client();
 * const messenger = await firstValueFrom(client.connect('127.0.0.1', 5000));
 * await messenger.send({ info: 'hello' });
 */
export class Client extends Hub {
  /** Every dial's outcome, successes and failures. */
  readonly dials$: Observable<DialEvent>;
  private readonly dialEvents = new Subject<DialEvent>();
  /** Pending dials, each with the function that abandons it. */
  private readonly pending = new Map<Socket, (cause: Error) => void>();
  /** Connections made by `dial` and not closed yet. */
  private readonly dialled = new Set<ReconnectingConnection>();
  private readonly tls: TlsSettings | undefined;

  constructor(options: ClientOptions = {}) {
    super(options);
    const timeout = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (!Number.isSafeInteger(timeout) || timeout <= 0) {
      throw new InvalidOptionError('connectTimeoutMs', timeout, 'a whole number of milliseconds > 0');
    }
    this.dials$ = this.dialEvents.asObservable();
    this.tls = options.tls ? tlsSettings('tls', options.tls) : undefined;
  }

  /**
   * Opens one more connection (the seed's `add_connection`). Lazy: the dial starts on subscribe,
   * so `retry()` re-dials. Emits the new Messenger, already in `messengers`, then completes; errors
   * with `ConnectFailedError`. Unsubscribing before the connection is made abandons the dial; after,
   * the connection stays open in the hub. With TLS (the client's `tls`, or `options.tls`) the dial
   * succeeds once the handshake is done; a failed handshake is a `ConnectFailedError` whose `cause`
   * is the TLS error (e.g. code `SELF_SIGNED_CERT_IN_CHAIN` for a server it does not trust).
   * When the hub already holds `maxConnections` (open, authenticating and dialling), it errors with
   * `TooManyConnectionsError` without dialling.
   */
  connect(host: string, port: number, options: ConnectOptions = {}): Observable<Messenger> {
    return new Observable<Messenger>((subscriber) => {
      if (this.isStopped) {
        subscriber.error(new HubStoppedError());
        return;
      }
      if (!Number.isInteger(port) || port <= 0 || port > 65535) {
        subscriber.error(new ConnectFailedError(host, port, new InvalidOptionError('port', port, 'a port number from 1 to 65535')));
        return;
      }
      const max = (this.options as ClientOptions).maxConnections ?? DEFAULT_MAX_CONNECTIONS;
      if (this.openCount + this.pending.size >= max) {
        subscriber.error(new TooManyConnectionsError(max));
        return;
      }
      let tls: TlsSettings | undefined;
      try {
        tls = options.tls === undefined ? this.tls : options.tls === false ? undefined : tlsSettings('tls', options.tls);
      } catch (error) {
        subscriber.error(new ConnectFailedError(host, port, error));
        return;
      }
      const socket = tls ? nodeTls().connect({ ...tls.options, secureContext: tls.secureContext, host, port }) : netConnect({ host, port, noDelay: true, keepAlive: true });
      // tls.connect's types lack these options of the socket under it.
      if (tls) socket.setNoDelay(true).setKeepAlive(true);
      const connected = tls ? 'secureConnect' : 'connect';
      const timeoutMs = (this.options as ClientOptions).connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
      const timer = this.scheduler.schedule(() => socket.destroy(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      let settled = false;
      const fail = (cause: Error) => {
        if (settled) return;
        settled = true;
        cleanup();
        const error = new ConnectFailedError(host, port, cause);
        this.dialEvents.next({ type: 'failed', host, port, error });
        subscriber.error(error);
      };
      const onConnect = () => {
        if (settled) return;
        settled = true;
        cleanup();
        if (this.isStopped) {
          socket.destroy();
          subscriber.error(new HubStoppedError());
          return;
        }
        const messenger = this.adopt(socket, undefined, 'dialled');
        this.dialEvents.next({ type: 'connected', host, port, messenger });
        subscriber.next(messenger);
        subscriber.complete();
      };
      const onClose = () => fail(new Error('socket closed before connecting'));
      // Fails the dial at once, so that it is reported before stop() completes dials$.
      this.pending.set(socket, (cause) => {
        fail(cause);
        socket.destroy();
      });
      const cleanup = () => {
        timer.unsubscribe();
        this.pending.delete(socket);
        socket.off(connected, onConnect);
        socket.off('error', fail);
        socket.off('close', onClose);
      };
      socket.once(connected, onConnect);
      socket.once('error', fail);
      socket.once('close', onClose);
      return () => {
        if (!settled) {
          settled = true;
          cleanup();
          socket.destroy();
        }
      };
    });
  }

  /**
   * Keeps a connection to `host:port` up: dials now, and whenever the connection closes dials again
   * after an exponential, fully jittered, capped delay (see `retryWithBackoff`), on the hub's
   * scheduler. Its `state$` tells every step; its `messages$` goes on across reconnects; `send()`
   * fails fast with `NotConnectedError` while it is down, unless `queueWhileDown` bounds a queue.
   * Each connection it makes is one of this hub's `messengers`. `close()` ends it; so does `stop()`.
   *
   * @throws InvalidOptionError for a bad port, backoff, queue or TLS option; HubStoppedError
   * @example
   * const tracker = client.dial('127.0.0.1', 5000, { maxMs: 5000, queueWhileDown: { maxMessages: 100, maxBytes: 1 << 20 } });
   * tracker.state$.pipe(filter((s) => s.type === 'open')).subscribe(({ messenger }) => void messenger.send({ ID: 'me' }));
   * await tracker.send({ info: 'hello' }); // queued until the connection is open
   */
  dial(host: string, port: number, options: DialOptions = {}): ReconnectingConnection {
    if (this.isStopped) throw new HubStoppedError();
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new InvalidOptionError('port', port, 'a port number from 1 to 65535');
    // Checked now rather than at every dial.
    const tls = options.tls ? { ...options.tls, secureContext: tlsSettings('tls', options.tls).secureContext } : options.tls;
    const { tls: _tls, ...rest } = options;
    const connection = new ReconnectingConnection({ host, port }, this.connect(host, port, tls === undefined ? {} : { tls }), {
      ...rest,
      scheduler: this.scheduler,
    });
    this.dialled.add(connection);
    connection.state$.subscribe({ complete: () => this.dialled.delete(connection) });
    return connection;
  }

  /** Abandons pending dials, ends dialled connections, closes every connection, completes every stream. */
  protected override async shutdown(): Promise<void> {
    for (const connection of [...this.dialled]) void connection.close();
    for (const abandon of [...this.pending.values()]) abandon(new HubStoppedError());
    await super.shutdown();
    this.dialEvents.complete();
  }
}

/** TLS options with their secure context, made once. */
interface TlsSettings {
  readonly options: ConnectionOptions;
  readonly secureContext: SecureContext;
}

function tlsSettings(option: string, options: ConnectionOptions): TlsSettings {
  return { options, secureContext: options.secureContext ?? secureContextOf(option, options) };
}
