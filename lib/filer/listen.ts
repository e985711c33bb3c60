/**
 * Listening as the seed's peer did: try the start port, and while it is taken, the next one.
 */
import { Server, type ServerOptions } from '../hub/server.js';
import { InvalidOptionError } from '../errors.js';
import { PortsInUseError } from '../errors.js';

/**
 * A listening Server on `port` or, when that is in use, the first free port after it, trying at
 * most `attempts` ports. Port 0 takes an ephemeral port (one attempt).
 * @throws (rejects) PortsInUseError when every port tried is taken; the listener's error for any
 * other failure (an address that is not this machine's, a port it may not use)
 * @example
 * const server = await listenFrom({ host: '127.0.0.1', port: 63330 }, 100);
 * server.address.port // 63330, or 63331 if 63330 was taken, ...
 */
export async function listenFrom(options: ServerOptions & { readonly port: number }, attempts: number): Promise<Server> {
  if (!Number.isSafeInteger(attempts) || attempts < 1) throw new InvalidOptionError('portAttempts', attempts, 'a whole number >= 1');
  const first = options.port;
  const last = first === 0 ? 0 : Math.min(65535, first + attempts - 1);
  let lastError: unknown;
  for (let port = first; port <= last; port++) {
    const server = new Server({ ...options, port });
    try {
      await server.listen();
      return server;
    } catch (error) {
      await server.stop();
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || first === 0) throw error;
      lastError = error;
    }
  }
  throw new PortsInUseError(options.host ?? '127.0.0.1', first, last, lastError);
}
