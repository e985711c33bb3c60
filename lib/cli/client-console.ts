/** `rx-tcp-hub client`: the seed's client_example, a console over a `Client` of many connections. */
import { firstValueFrom, merge } from 'rxjs';
import { Client } from '../hub/client.js';
import type { ClientArgs } from './args.js';
import { runConsole } from './console.js';
import { dialFailures, errorEvent, hubEvents } from './events.js';
import { TooManyConnectionsError } from '../errors.js';
import { createPrinter } from './printer.js';
import { tlsOptions } from './flag-files.js';
import { fromFlags } from './limit-flags.js';

/**
 * Reads the TLS files, dials every `--connect` address at once, then runs the console until it ends.
 * @throws UsageError for a TLS file that cannot be read or used
 */
export async function runClientConsole(args: ClientArgs): Promise<void> {
  const printer = createPrinter({ json: args.json });
  const tls = await tlsOptions(args.limits.tls, 'dial');
  const client = fromFlags(() => new Client({ ...args.limits.connection, ...(tls ? { tls } : {}) }));
  // A dial's outcome shows as an `open` event or a `dial-failed` one; here it only has to settle.
  // A dial refused before dialling (the client is full) is no dial: it is reported as an error.
  const dial = (host: string, port: number): Promise<void> =>
    firstValueFrom(client.connect(host, port)).then(
      () => undefined,
      (error: unknown) => {
        if (error instanceof TooManyConnectionsError) printer.print(errorEvent(error));
      },
    );
  await runConsole({
    kind: 'client',
    hub: client,
    printer,
    events$: merge(hubEvents(client), dialFailures(client)),
    dial,
    start: () => Promise.all(args.connect.map(({ host, port }) => dial(host, port))),
  });
}
