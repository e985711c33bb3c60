/**
 * `rx-tcp-hub tracker`: the seed's `ip_server`. Listens, keeps the peer table from the peers'
 * reports, broadcasts it every interval, and prints each join and leave. Commands: `peers`, `help`,
 * `quit`.
 */
import { Subject, Subscription, filter, map } from 'rxjs';
import { InvalidOptionError } from '../errors.js';
import { Tracker } from '../filer/tracker.js';
import { UsageError } from './args.js';
import { errorEvent } from './events.js';
import type { TrackerArgs } from './filer-args.js';
import { tableEvent, trackerEvent, type FilerEvent } from './filer-events.js';
import { createFilerPrinter } from './filer-printer.js';
import { runLineLoop } from './line-loop.js';
import { parseTrackerCommand, trackerCommandHelp } from './peer-commands.js';
import { ListenError } from './server-console.js';
import { readSecret, tlsOptions } from './flag-files.js';
import { printStats } from './stats.js';

/**
 * Reads the TLS and secret files, listens, prints the address as the first line, then tracks until
 * `quit`, the end of input or a signal.
 * @throws ListenError when the address cannot be listened on (the console never starts);
 * UsageError for a file that cannot be read or used
 */
export async function runTrackerConsole(args: TrackerArgs, input?: NodeJS.ReadableStream & { isTTY?: boolean }): Promise<void> {
  const printer = createFilerPrinter({ json: args.json, progressEveryMs: 0 });
  const tls = await tlsOptions(args.limits.tls, 'listen');
  const secret = await readSecret(args.secret);
  const events = new Subject<FilerEvent>();
  const wiring = new Subscription();
  let tracker: Tracker | undefined;

  const start = async () => {
    try {
      tracker = await Tracker.listen({
        host: args.host,
        port: args.port,
        intervalMs: args.intervalMs,
        expireMs: args.expireMs,
        ...args.limits.connection,
        ...args.limits.listen,
        ...(tls ? { tls } : {}),
        ...(secret !== undefined ? { secret } : {}),
      });
    } catch (error) {
      if (error instanceof InvalidOptionError) throw new UsageError(error.message);
      throw new ListenError(args.host, args.port, error);
    }
    printer.print({ event: 'listening', ...tracker.server!.address });
    wiring.add(
      tracker.events$
        .pipe(
          map(trackerEvent),
          filter((event) => event !== undefined),
        )
        .subscribe((event) => events.next(event)),
    );
  };

  const execute = async (line: string): Promise<'quit' | void> => {
    const command = parseTrackerCommand(line);
    switch (command.name) {
      case 'quit':
        return 'quit';
      case 'nothing':
        return;
      case 'help':
        return printer.print({ event: 'help', commands: trackerCommandHelp() });
      case 'peers':
        return printer.print(tableEvent(tracker!.peers, tracker!.options.scheduler.now()));
      case 'stats':
        return printStats(printer, tracker!.server!.stats(), command.json);
    }
  };

  await runLineLoop({
    events$: events,
    print: (event) => printer.print(event),
    start,
    execute,
    report: (error) => printer.print(errorEvent(error) as FilerEvent),
    stop: async () => {
      await tracker?.stop();
      wiring.unsubscribe();
    },
    ...(input ? { input } : {}),
  });
  printer.print({ event: 'stopped' });
}
