/**
 * `rx-tcp-hub tracker`: the seed's `ip_server`. Listens, keeps the peer table from the peers'
 * reports, broadcasts it every interval, and prints each join and leave. Commands: `peers`, `help`,
 * `quit`.
 */
import { filter, map } from 'rxjs';
import { Tracker } from '../filer/tracker.js';
import type { TrackerArgs } from './filer-args.js';
import { runFilerConsole } from './filer-console.js';
import { tableEvent, trackerEvent } from './filer-events.js';
import { createFilerPrinter } from './filer-printer.js';
import { parseTrackerCommand, trackerCommandHelp } from './peer-commands.js';
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
  let tracker!: Tracker;

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
        return printer.print(tableEvent(tracker.peers, tracker.options.scheduler.now()));
      case 'stats':
        return printStats(printer, tracker.server!.stats(), command.json);
    }
  };

  await runFilerConsole({
    printer,
    host: args.host,
    port: args.port,
    start: async () =>
      (tracker = await Tracker.listen({
        host: args.host,
        port: args.port,
        intervalMs: args.intervalMs,
        expireMs: args.expireMs,
        ...args.limits.connection,
        ...args.limits.listen,
        ...(tls ? { tls } : {}),
        ...(secret !== undefined ? { secret } : {}),
      })),
    address: (started) => started.server!.address,
    reports: (started) =>
      started.events$.pipe(
        map(trackerEvent),
        filter((event) => event !== undefined),
      ),
    execute,
    ...(input ? { input } : {}),
  });
}
