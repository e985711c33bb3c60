/**
 * The end every console shares: its line loop (`line-loop.ts`: quit, end of input, SIGINT or
 * SIGTERM) prints what the console reports and each failed command as an `error` event, stops
 * what the console runs, and then prints `stopped` as the last line.
 */
import { errorEvent, type ConsoleEvent } from './events.js';
import { runLineLoop, type LineLoopOptions } from './line-loop.js';

/** The events every console prints besides its own: a failure, and the last line. */
export type ConsoleLoopEvent = Extract<ConsoleEvent, { event: 'error' | 'stopped' }>;

export interface ConsoleLoopOptions<E> extends Omit<LineLoopOptions<E>, 'print' | 'report'> {
  /** Prints the console's events, its failures and its last line. */
  readonly printer: { print(event: E | ConsoleLoopEvent): void };
}

/**
 * Runs a console's line loop until `quit`, end of input or a signal; resolves once `stop` has
 * resolved and `stopped` is printed.
 */
export async function runConsoleLoop<E>(options: ConsoleLoopOptions<E>): Promise<void> {
  const { printer, ...loop } = options;
  await runLineLoop({
    ...loop,
    print: (event) => printer.print(event),
    report: (error) => printer.print(errorEvent(error)),
  });
  printer.print({ event: 'stopped' });
}
