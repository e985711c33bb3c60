/**
 * TLS for Server and Client: `node:tls` options checked once (a secure context is made from them
 * when the hub is built, so a bad key or certificate fails there, with the option named), and the
 * server's listening socket, plain or TLS. A TLS connection counts against `maxConnections` from
 * its first TCP byte, and is adopted only once its handshake is done; a failed or too slow handshake
 * never reaches the hub: it is reported on `handshakeFailures$` and the socket is destroyed.
 */
import { createRequire } from 'node:module';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { SecureContext, SecureContextOptions, TLSSocket, TlsOptions } from 'node:tls';
import type { SchedulerLike, Subscription } from 'rxjs';
import { HandshakeTimeoutError, InvalidOptionError } from '../errors.js';
import { formatAddress, type Address } from '../connection/close-reason.js';

const require = createRequire(import.meta.url);
let tlsModule: typeof import('node:tls') | undefined;

/**
 * `node:tls`, loaded the first time a hub uses TLS: a plain-TCP program never pays for it (about
 * 0.75 MB of heap, which in a small process is the difference between V8 starting incremental
 * marking or not; see the README's Performance section).
 */
export function nodeTls(): typeof import('node:tls') {
  return (tlsModule ??= require('node:tls') as typeof import('node:tls'));
}

/** A TLS handshake a Server refused or that failed: the client sent no or a bad certificate, or left. */
export interface HandshakeFailure {
  /**
   * The TLS error, e.g. code `ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE`, or `ECONNRESET`; a
   * `HandshakeTimeoutError` (`ERR_HANDSHAKE_TIMEOUT`) for a client that took too long.
   */
  readonly error: Error;
  /** The client's address, when the socket still knew it. */
  readonly address: Address | undefined;
  /**
   * Why the client's certificate was refused, when it was (e.g. `UNABLE_TO_VERIFY_LEAF_SIGNATURE`).
   * node checks it after the handshake and then hangs up, so `error` is then an `ECONNRESET`.
   */
  readonly authorizationError: string | undefined;
}

/**
 * Makes the secure context of TLS options, so that a bad key, certificate or CA fails now.
 * @throws InvalidOptionError naming `option` and OpenSSL's reason
 */
export function secureContextOf(option: string, options: SecureContextOptions): SecureContext {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError(option, options, 'an object of node:tls options');
  try {
    return nodeTls().createSecureContext(options);
  } catch (error) {
    throw new InvalidOptionError(option, options, `usable node:tls options (${(error as Error).message})`);
  }
}

/** A listening socket for a Server, and how to let go of the connections it has not handed over. */
export interface Listener {
  readonly server: NetServer;
  /** TCP connections of a TLS listener still in their handshake (0 for plain TCP). */
  readonly handshaking: () => number;
  /**
   * Destroys every TCP connection of a TLS listener still open. Called once the hub's own
   * connections have closed, that leaves those still in their handshake (none for plain TCP).
   */
  abandonHandshakes(): void;
}

/** What a listener asks of its Server. */
export interface ListenerHooks {
  /**
   * May one more TCP connection come in, with `pending` handshakes already in flight? On false the
   * hook has destroyed the socket (and counted it). Plain TCP asks with `pending` 0.
   */
  admit(socket: Socket, pending: number): boolean;
  /** An admitted connection, ready for messages: at once for plain TCP, after the handshake for TLS. */
  accept(socket: Socket): void;
  /** A handshake that failed, was refused or timed out; its socket is already destroyed. */
  handshakeFailed(failure: HandshakeFailure): void;
}

/** The handshake deadline of a TLS listener, on the hub's scheduler. */
export interface HandshakeDeadline {
  readonly timeoutMs: number;
  readonly scheduler: SchedulerLike;
}

/**
 * Creates the Server's listening socket: `net` without `tls`, else `node:tls`. A TLS connection is
 * admitted when its TCP connection arrives, so that handshakes in flight count against the hub's
 * limit; it is handed to `accept` on `secureConnection`, or destroyed when its handshake has not
 * finished `deadline.timeoutMs` after it arrived.
 */
export function createListener(tls: TlsOptions | undefined, hooks: ListenerHooks, deadline: HandshakeDeadline): Listener {
  if (!tls) {
    const server = createNetServer({ noDelay: true, keepAlive: true }, (socket) => {
      if (hooks.admit(socket, 0)) hooks.accept(socket);
    });
    return { server, handshaking: () => 0, abandonHandshakes: () => {} };
  }
  if (!tls.secureContext && !tls.pfx && !(tls.key && tls.cert) && !tls.SNICallback) {
    throw new InvalidOptionError('tls', tls, 'TLS options with a key and a certificate (key and cert, or pfx)');
  }
  const secureContext = tls.secureContext ?? secureContextOf('tls', tls);
  const server = nodeTls().createServer({ ...tls, secureContext, noDelay: true, keepAlive: true });
  // Every TCP connection, handshaking or not: a TLS socket that has not finished its handshake is
  // in no hub, so stop() would otherwise wait for its handshake timeout.
  const raw = new Set<Socket>();
  // Those still in their handshake, with their deadline.
  const handshaking = new Map<Socket, Subscription>();
  // Refused or timed out here: node reports their end as a failed handshake, already accounted for.
  const dropped = new WeakSet<Socket>();
  const settle = (socket: Socket) => {
    handshaking.get(socket)?.unsubscribe();
    handshaking.delete(socket);
  };
  // Before node's own listener wraps the socket in TLS, so a refused one is dropped unread.
  server.prependListener('connection', (socket: Socket) => {
    if (!hooks.admit(socket, handshaking.size)) {
      dropped.add(socket);
      return;
    }
    raw.add(socket);
    socket.once('close', () => {
      raw.delete(socket);
      settle(socket);
    });
    const timer = deadline.scheduler.schedule(() => {
      settle(socket);
      dropped.add(socket);
      const address = addressOf(socket);
      socket.destroy();
      const error = new HandshakeTimeoutError(address ? formatAddress(address) : 'a TLS client', deadline.timeoutMs);
      hooks.handshakeFailed({ error, address, authorizationError: undefined });
    }, deadline.timeoutMs);
    handshaking.set(socket, timer);
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    settle(parentOf(socket));
    hooks.accept(socket);
  });
  // Without a listener a refused handshake is still destroyed by node, but nobody could tell.
  server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
    const parent = parentOf(socket);
    settle(parent);
    const address = addressOf(socket);
    const refused = socket.authorizationError;
    socket.destroy();
    if (dropped.has(parent)) return;
    hooks.handshakeFailed({ error, address, authorizationError: refused == null ? undefined : String(refused) });
  });
  return {
    server,
    handshaking: () => handshaking.size,
    abandonHandshakes: () => {
      for (const socket of raw) socket.destroy();
    },
  };
}

/**
 * The TCP socket under a server's TLS socket. node keeps it as `_parent` (it has no public name);
 * without it the TLS socket stands for itself, which only costs the bookkeeping of its deadline.
 */
function parentOf(socket: TLSSocket): Socket {
  return (socket as TLSSocket & { _parent?: Socket })._parent ?? socket;
}

function addressOf(socket: Socket): Address | undefined {
  return socket.remoteAddress !== undefined ? { host: socket.remoteAddress, port: socket.remotePort ?? 0 } : undefined;
}
