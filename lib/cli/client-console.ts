/** `rx-tcp-hub client`: the seed's client_example, a console over a `Client` of many connections. */
import { firstValueFrom, merge } from 'rxjs';
import { Client } from '../hub/client.js';
import type { ClientArgs } from './args.js';
import { runConsole } from './console.js';
import { dialFailures, hubEvents } from './events.js';
import { createPrinter } from './printer.js';

/** Dials every `--connect` address at once, then runs the console until it ends. */
export async function runClientConsole(args: ClientArgs): Promise<void> {
  const printer = createPrinter({ json: args.json });
  const client = new Client();
  // A dial's outcome shows as an `open` event or a `dial-failed` one; here it only has to settle.
  const dial = (host: string, port: number): Promise<void> =>
    firstValueFrom(client.connect(host, port)).then(
      () => undefined,
      () => undefined,
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
