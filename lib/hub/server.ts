/** A hub that accepts connections on one host and port (the seed's `Server`). */
import { createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { HubStoppedError, InvalidOptionError } from '../errors.js';
import type { Address } from '../connection/close-reason.js';
import { Hub, type HubOptions } from './hub.js';

export interface ServerOptions extends HubOptions {
  /** Address to listen on. Default `127.0.0.1`; `0.0.0.0` or `::` accept from other machines. */
  readonly host?: string;
  /** Port to listen on; 0 picks a free one (read it back from `address`). Default 0. */
  readonly port?: number;
}

/**
 * Listens for connections and wraps each in a Messenger.
 *
 * @example
 * const server = await Server.listen({ port: 0 });
 * server.incoming$.subscribe(({ from, header }) => from.send({ info: `echo ${header['info']}` }));
 * console.log(server.address.port);
 */
export class Server extends Hub {
  /** The listening socket (the seed's `Server.server`). */
  readonly server: NetServer;
  private bound: Address | undefined;

  constructor(options: ServerOptions = {}) {
    super(options);
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new InvalidOptionError('port', port, 'a port number from 0 to 65535');
    }
    this.server = createServer({ noDelay: true, keepAlive: true }, (socket) => this.accept(socket));
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
    await closed;
    // 'close' comes before libuv has run the listening handle's close callback; that runs in the
    // close phase of the loop turn in which close() was called, so it is done two check phases later.
    await nextTurn();
    await nextTurn();
  }

  private accept(socket: Socket): void {
    if (this.isStopped) {
      socket.destroy();
      return;
    }
    this.adopt(socket);
  }
}
