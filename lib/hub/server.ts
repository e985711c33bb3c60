/** A hub that accepts connections on one host and port (the seed's `Server`). */
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { TlsOptions } from 'node:tls';
import { Subject, type Observable } from 'rxjs';
import { HandshakeTimeoutError, HubStoppedError, InvalidOptionError } from '../errors.js';
import type { Address } from '../connection/close-reason.js';
import { duration } from '../connection/options.js';
import { Hub, type HubOptions } from './hub.js';
import type { HubStats, RefusalReason } from './hub-stats.js';
import { createListener, type HandshakeFailure } from './tls.js';

/** Default time a TLS client has to finish its handshake: 10 s. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Why a Server dropped a TLS connection before it could join the hub. */
export const HandshakeRefusal = {
  /** The handshake did not finish within `handshakeTimeoutMs`. */
  Timeout: 'handshake-timeout',
  /** The handshake failed or the client's certificate was refused. */
  Failed: 'handshake-failed',
} as const;

export type HandshakeRefusal = (typeof HandshakeRefusal)[keyof typeof HandshakeRefusal];

/** A Server's snapshot: a hub's, plus its TLS handshakes (every key present, 0 for plain TCP). */
export interface ServerStats extends HubStats {
  /** TLS connections still in their handshake: they count against `maxConnections`. */
  readonly handshaking: number;
  readonly refusals: Readonly<Record<RefusalReason | HandshakeRefusal, number>>;
}

export interface ServerOptions extends HubOptions {
  /** Address to listen on. Default `127.0.0.1`; `0.0.0.0` or `::` accept from other machines. */
  readonly host?: string;
  /** Port to listen on; 0 picks a free one (read it back from `address`). Default 0. */
  readonly port?: number;
  /**
   * Serve TLS with these `node:tls` options (`key` and `cert` at least). Mutual TLS: add
   * `requestCert: true`, `rejectUnauthorized: true` and the clients' `ca`. A connection joins the
   * hub once its handshake is done. Default: plain TCP.
   */
  readonly tls?: TlsOptions;
  /**
   * With `tls`: time a client has to finish its handshake once its TCP connection arrived; past
   * it the socket is destroyed, reported on `handshakeFailures$` (`ERR_HANDSHAKE_TIMEOUT`) and
   * counted in `stats().refusals['handshake-timeout']`. Handshakes in flight count against
   * `maxConnections`. Default 10 s.
   */
  readonly handshakeTimeoutMs?: number;
}

/**
 * Listens for connections and wraps each in a Messenger.
 *
 * @example
 * const server = await Server.listen({ port: 0 });
 * server.incoming$.subscribe(({ from, header }) => from.send({ info: `echo ${header['info']}` }));
 * console.log(server.address.port);
 *
 * @example
 * // TLS; for mutual TLS add requestCert: true, rejectUnauthorized: true, ca: clientsCa
 * const server = await Server.listen({ port: 5000, tls: { key: readFileSync('key.pem'), cert: readFileSync('cert.pem') } });
 */
export class Server extends Hub {
  /** The listening socket (the seed's `Server.server`): a `tls.Server` with the `tls` option. */
  readonly server: NetServer;
  /**
   * TLS handshakes that failed or were refused (with `tls` only), such as a client without a
   * certificate on a mutual-TLS server. These connections never join the hub. Completes on stop.
   */
  readonly handshakeFailures$: Observable<HandshakeFailure>;
  private readonly handshakeFailures = new Subject<HandshakeFailure>();
  private readonly abandonHandshakes: () => void;
  private readonly handshaking: () => number;
  private readonly handshakeRefusals: Record<HandshakeRefusal, number> = { 'handshake-timeout': 0, 'handshake-failed': 0 };
  private bound: Address | undefined;

  constructor(options: ServerOptions = {}) {
    super(options);
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new InvalidOptionError('port', port, 'a port number from 0 to 65535');
    }
    const handshakeTimeoutMs = duration('handshakeTimeoutMs', options.handshakeTimeoutMs, DEFAULT_HANDSHAKE_TIMEOUT_MS);
    if (handshakeTimeoutMs === 0) throw new InvalidOptionError('handshakeTimeoutMs', 0, 'a whole number of milliseconds > 0');
    const listener = createListener(
      options.tls,
      {
        admit: (socket, pending) => this.admit(socket, pending),
        accept: (socket) => this.accept(socket),
        handshakeFailed: (failure) => {
          this.handshakeRefusals[failure.error instanceof HandshakeTimeoutError ? HandshakeRefusal.Timeout : HandshakeRefusal.Failed]++;
          this.handshakeFailures.next(failure);
        },
      },
      { timeoutMs: handshakeTimeoutMs, scheduler: this.scheduler },
    );
    this.server = listener.server;
    this.abandonHandshakes = listener.abandonHandshakes;
    this.handshaking = listener.handshaking;
    this.handshakeFailures$ = this.handshakeFailures.asObservable();
  }

  /** Creates a server and starts listening; resolves once bound. */
  static async listen(options: ServerOptions = {}): Promise<Server> {
    const server = new Server(options);
    await server.listen();
    return server;
  }

  /** The bound address (the seed's `Server.addr`); after `listen()`. */
  get address(): Address {
    if (!this.bound) throw new InvalidOptionError('address', undefined, 'available before listen() resolves');
    return this.bound;
  }

  /** The hub's snapshot, with the TLS handshakes in flight and those dropped. */
  override stats(): ServerStats {
    const stats = super.stats();
    return { ...stats, handshaking: this.handshaking(), refusals: { ...stats.refusals, ...this.handshakeRefusals } };
  }

  /** Starts listening; resolves with the bound address, rejects if the port cannot be bound. */
  listen(): Promise<Address> {
    if (this.isStopped) return Promise.reject(new HubStoppedError());
    const host = (this.options as ServerOptions).host ?? '127.0.0.1';
    const port = (this.options as ServerOptions).port ?? 0;
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.server.once('error', onError);
      this.server.listen({ host, port }, () => {
        this.server.off('error', onError);
        const info = this.server.address() as AddressInfo;
        this.bound = { host: info.address, port: info.port };
        resolve(this.bound);
      });
    });
  }

  /** Stops listening, closes every connection, completes every stream; resolves with no handle left. */
  protected override async shutdown(): Promise<void> {
    const closed = new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
    await super.shutdown();
    // The hub's connections are closed: what is left is still in its TLS handshake.
    this.abandonHandshakes();
    await closed;
    this.handshakeFailures.complete();
    // 'close' comes before libuv has run the listening handle's close callback; that runs in the
    // close phase of the loop turn in which close() was called, so it is done two check phases later.
    await nextTurn();
    await nextTurn();
  }

  /** An admitted connection (after its handshake, with TLS); a stop during the handshake refuses it. */
  private accept(socket: Socket): void {
    if (this.isStopped) this.admit(socket);
    else this.adopt(socket, undefined, 'accepted');
  }
}
