/** A hub of outgoing connections (the seed's `Client`), dialled one by one with `connect`. */
import { connect as netConnect, type Socket } from 'node:net';
import { Observable, Subject } from 'rxjs';
import { ConnectFailedError, HubStoppedError, InvalidOptionError } from '../errors.js';
import type { Messenger } from '../connection/messenger.js';
import { Hub, type HubOptions } from './hub.js';

/** Default time a dial may take before it fails with `ERR_CONNECT_FAILED`. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface ClientOptions extends HubOptions {
  /** Time a dial may take. Default 10 s. */
  readonly connectTimeoutMs?: number;
}

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

  constructor(options: ClientOptions = {}) {
    super(options);
    const timeout = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (!Number.isSafeInteger(timeout) || timeout <= 0) {
      throw new InvalidOptionError('connectTimeoutMs', timeout, 'a whole number of milliseconds > 0');
    }
    this.dials$ = this.dialEvents.asObservable();
  }

  /**
   * Opens one more connection (the seed's `add_connection`). Lazy: the dial starts on subscribe,
   * so `retry()` re-dials. Emits the new Messenger, already in `messengers`, then completes; errors
   * with `ConnectFailedError`. Unsubscribing before the connection is made abandons the dial; after,
   * the connection stays open in the hub.
   */
  connect(host: string, port: number): Observable<Messenger> {
    return new Observable<Messenger>((subscriber) => {
      if (this.isStopped) {
        subscriber.error(new HubStoppedError());
        return;
      }
      if (!Number.isInteger(port) || port <= 0 || port > 65535) {
        subscriber.error(new ConnectFailedError(host, port, new InvalidOptionError('port', port, 'a port number from 1 to 65535')));
        return;
      }
      const socket = netConnect({ host, port, noDelay: true, keepAlive: true });
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
        const messenger = this.adopt(socket);
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
        socket.off('connect', onConnect);
        socket.off('error', fail);
        socket.off('close', onClose);
      };
      socket.once('connect', onConnect);
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

  /** Abandons pending dials, closes every connection, completes every stream. */
  protected override async shutdown(): Promise<void> {
    for (const abandon of [...this.pending.values()]) abandon(new HubStoppedError());
    await super.shutdown();
    this.dialEvents.complete();
  }
}
