/** `rx-tcp-hub server`: the seed's server_example, a console over a listening `Server`. */
import { Server } from '../hub/server.js';
import type { ServerArgs } from './args.js';
import { runConsole } from './console.js';
import { hubEvents } from './events.js';
import { tlsOptions } from './flag-files.js';
import { fromFlags } from './limit-flags.js';
import { createPrinter } from './printer.js';

/**
 * Reads the TLS files, listens, prints the address as the first line, then runs the console until
 * it ends. Listening is the console's first step, so a signal that follows the first line stops it
 * cleanly.
 * @throws UsageError for a TLS file that cannot be read or used; ListenError when the address
 * cannot be listened on (the console never starts)
 */
export async function runServerConsole(args: ServerArgs): Promise<void> {
  const printer = createPrinter({ json: args.json });
  const tls = await tlsOptions(args.limits.tls, 'listen');
  const server = fromFlags(
    () => new Server({ host: args.host, port: args.port, ...args.limits.connection, ...args.limits.listen, ...(tls ? { tls } : {}) }),
  );
  const listen = async () => {
    try {
      await server.listen();
    } catch (error) {
      throw new ListenError(args.host, args.port, error);
    }
    printer.print({ event: 'listening', ...server.address });
  };
  await runConsole({ kind: 'server', hub: server, printer, events$: hubEvents(server), start: listen });
}

/** The server could not listen: the port is taken, or the address is not this machine's. */
export class ListenError extends Error {
  override readonly name = 'ListenError';

  constructor(host: string, port: number, cause: unknown) {
    super(`cannot listen on ${host}:${port}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
