/** `rx-tcp-hub server`: the seed's server_example, a console over a listening `Server`. */
import { Server } from '../hub/server.js';
import type { ServerArgs } from './args.js';
import { runConsole } from './console.js';
import { hubEvents } from './events.js';
import { createPrinter } from './printer.js';

/** Listens, prints the address as the first line, then runs the console until it ends. */
export async function runServerConsole(args: ServerArgs): Promise<void> {
  const printer = createPrinter({ json: args.json });
  const server = new Server({ host: args.host, port: args.port });
  try {
    await server.listen();
  } catch (error) {
    await server.stop();
    throw new ListenError(args.host, args.port, error);
  }
  printer.print({ event: 'listening', ...server.address });
  await runConsole({ kind: 'server', hub: server, printer, events$: hubEvents(server) });
}

/** The server could not listen: the port is taken, or the address is not this machine's. */
export class ListenError extends Error {
  override readonly name = 'ListenError';

  constructor(host: string, port: number, cause: unknown) {
    super(`cannot listen on ${host}:${port}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
