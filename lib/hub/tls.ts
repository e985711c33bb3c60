/**
 * TLS for Server and Client: `node:tls` options checked once (a secure context is made from them
 * when the hub is built, so a bad key or certificate fails there, with the option named), and the
 * server's listening socket, plain or TLS. A TLS connection is adopted only once its handshake is
 * done; a failed handshake never reaches the hub: it is reported on `handshakeFailures$` and the
 * socket is destroyed.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import {
  createSecureContext,
  createServer as createTlsServer,
  type SecureContext,
  type SecureContextOptions,
  type TLSSocket,
  type TlsOptions,
} from 'node:tls';
import { InvalidOptionError } from '../errors.js';
import type { Address } from '../connection/close-reason.js';

/** A TLS handshake a Server refused or that failed: the client sent no or a bad certificate, or left. */
export interface HandshakeFailure {
  /** The TLS error, e.g. code `ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE`, or `ECONNRESET`. */
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
    return createSecureContext(options);
  } catch (error) {
    throw new InvalidOptionError(option, options, `usable node:tls options (${(error as Error).message})`);
  }
}

/** A listening socket for a Server, and how to let go of the connections it has not handed over. */
export interface Listener {
  readonly server: NetServer;
  /**
   * Destroys every TCP connection of a TLS listener still open. Called once the hub's own
   * connections have closed, that leaves those still in their handshake (none for plain TCP).
   */
  abandonHandshakes(): void;
}

/**
 * Creates the Server's listening socket: `net` without `tls`, else `node:tls`, whose connections
 * are handed to `accept` on `secureConnection`, after the handshake.
 */
export function createListener(tls: TlsOptions | undefined, accept: (socket: Socket) => void, onHandshakeFailure: (failure: HandshakeFailure) => void): Listener {
  if (!tls) {
    return { server: createNetServer({ noDelay: true, keepAlive: true }, accept), abandonHandshakes: () => {} };
  }
  if (!tls.secureContext && !tls.pfx && !(tls.key && tls.cert) && !tls.SNICallback) {
    throw new InvalidOptionError('tls', tls, 'TLS options with a key and a certificate (key and cert, or pfx)');
  }
  const secureContext = tls.secureContext ?? secureContextOf('tls', tls);
  const server = createTlsServer({ ...tls, secureContext, noDelay: true, keepAlive: true }, accept);
  // Every TCP connection, handshaking or not: a TLS socket that has not finished its handshake is
  // in no hub, so stop() would otherwise wait for its handshake timeout (120 s by default).
  const raw = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    raw.add(socket);
    socket.once('close', () => raw.delete(socket));
  });
  // Without a listener a refused handshake is still destroyed by node, but nobody could tell.
  server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
    const address = socket.remoteAddress !== undefined ? { host: socket.remoteAddress, port: socket.remotePort ?? 0 } : undefined;
    const refused = socket.authorizationError;
    socket.destroy();
    onHandshakeFailure({ error, address, authorizationError: refused === undefined ? undefined : String(refused) });
  });
  return {
    server,
    abandonHandshakes: () => {
      for (const socket of raw) socket.destroy();
    },
  };
}
