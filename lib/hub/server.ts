/** A hub that accepts connections on one host and port (the seed's `Server`). */
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { TlsOptions } from 'node:tls';
import { Subject, type Observable } from 'rxjs';
import { HubStoppedError, InvalidOptionError } from '../errors.js';
import type { Address } from '../connection/close-reason.js';
import { Hub, type HubOptions } from './hub.js';
import { createListener, type HandshakeFailure } from './tls.js';

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
  private bound: Address | undefined;

  constructor(options: ServerOptions = {}) {
    super(options);
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new InvalidOptionError('port', port, 'a port number from 0 to 65535');
    }
    const listener = createListener(options.tls, (socket) => this.accept(socket), (failure) => this.handshakeFailures.next(failure));
    this.server = listener.server;
    this.abandonHandshakes = listener.abandonHandshakes;
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

  /** A new connection (after its handshake, with TLS): refused when stopped or full, else adopted. */
  private accept(socket: Socket): void {
    if (this.admit(socket)) this.adopt(socket, undefined, 'accepted');
  }
}
