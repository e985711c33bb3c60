/**
 * What the filer consoles (`tracker`, `peer`) share around their commands: the service they run
 * starts as the loop's first step and prints where it listens, what it reports is printed as it
 * comes, and the end of the console (quit, end of input, a signal) stops it before the last line.
 */
import { Subject, Subscription, type Observable } from 'rxjs';
import { InvalidOptionError } from '../errors.js';
import type { Address } from '../connection/close-reason.js';
import { UsageError } from './args.js';
import { runConsoleLoop } from './console-loop.js';
import type { FilerEvent } from './filer-events.js';
import type { FilerPrinter } from './filer-printer.js';
import { ListenError } from './server-console.js';

/** What a filer console runs: a tracker or a peer. */
export interface FilerService {
  stop(): Promise<void>;
}

export interface FilerConsoleOptions<S extends FilerService> {
  readonly printer: FilerPrinter;
  /** The address asked for, which a failure to start names. */
  readonly host: string;
  readonly port: number;
  /**
   * Starts the service. An `InvalidOptionError` becomes a `UsageError`, any other failure a
   * `ListenError`: either ends the console before its first command.
   */
  readonly start: () => Promise<S>;
  /** The address the started service listens on: the console's first line. */
  readonly address: (service: S) => Address;
  /** What the started service reports, as console events; printed until the console ends. */
  readonly reports: (service: S) => Observable<FilerEvent>;
  /** Runs one command line; `'quit'` ends the console. */
  readonly execute: (line: string) => Promise<'quit' | void>;
  /** Where commands come from. Default stdin. */
  readonly input?: NodeJS.ReadableStream & { isTTY?: boolean };
}

/**
 * Runs a filer console until `quit`, the end of input or a signal; resolves once its service
 * has stopped and `stopped` is printed.
 * @throws ListenError or UsageError when the service cannot start
 */
export async function runFilerConsole<S extends FilerService>(options: FilerConsoleOptions<S>): Promise<void> {
  const { printer } = options;
  const events = new Subject<FilerEvent>();
  const wiring = new Subscription();
  let service: S | undefined;

  const start = async () => {
    try {
      service = await options.start();
    } catch (error) {
      if (error instanceof InvalidOptionError) throw new UsageError(error.message);
      throw new ListenError(options.host, options.port, error);
    }
    printer.print({ event: 'listening', ...options.address(service) });
    wiring.add(options.reports(service).subscribe((event) => events.next(event)));
  };

  await runConsoleLoop({
    events$: events,
    printer,
    start,
    execute: options.execute,
    stop: async () => {
      await service?.stop();
      wiring.unsubscribe();
    },
    ...(options.input ? { input: options.input } : {}),
  });
}
