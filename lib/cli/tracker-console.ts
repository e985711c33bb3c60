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

/**
 * Listens, prints the address as the first line, then tracks until `quit`, the end of input or a
 * signal.
 * @throws ListenError when the address cannot be listened on (the console never starts)
 */
export async function runTrackerConsole(args: TrackerArgs, input?: NodeJS.ReadableStream & { isTTY?: boolean }): Promise<void> {
  const printer = createFilerPrinter({ json: args.json, progressEveryMs: 0 });
  const events = new Subject<FilerEvent>();
  const wiring = new Subscription();
  let tracker: Tracker | undefined;

  const start = async () => {
    try {
      tracker = await Tracker.listen({ host: args.host, port: args.port, intervalMs: args.intervalMs, expireMs: args.expireMs });
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
