/**
 * The line-command loop every console shares. Lines from the input become steps run one at a time,
 * in order, so a piped script behaves as if typed; the loop ends on `quit`, at the end of input, or
 * on SIGINT / SIGTERM, and then stops what the console runs. Nothing a user types can throw out of
 * the loop: every failure is handed to `report`.
 */
import { createInterface } from 'node:readline';
import { Observable, defer, fromEvent, lastValueFrom, map, merge, concatMap, startWith, takeUntil, takeWhile } from 'rxjs';

export interface LineLoopOptions<E> {
  /** What the console reports besides command results; printed as it comes until the loop ends. */
  readonly events$: Observable<E>;
  /** Prints one event. */
  readonly print: (event: E) => void;
  /** Work done before the first command (listening, dialling). A failure ends the loop and rejects. */
  readonly start?: () => Promise<unknown>;
  /** Runs one line; `'quit'` ends the loop. */
  readonly execute: (line: string) => Promise<'quit' | void>;
  /** Prints a failure of `execute`. */
  readonly report: (error: unknown) => void;
  /** Stops what the console runs; awaited before the loop resolves. */
  readonly stop: () => Promise<void>;
  /** Where commands come from. Default stdin; a prompt is shown only when it and stdout are TTYs. */
  readonly input?: NodeJS.ReadableStream & { isTTY?: boolean };
}

/** True when commands are typed at a terminal whose output is a terminal too. */
export function isInteractive(input: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin): boolean {
  return input.isTTY === true && process.stdout.isTTY === true;
}

/**
 * Runs the loop until `quit`, end of input or a signal; resolves once `stop` has resolved and
 * nothing of the loop is left holding the process open.
 */
export async function runLineLoop<E>(options: LineLoopOptions<E>): Promise<void> {
  const input = options.input ?? process.stdin;
  const tty = isInteractive(input);
  const rl = createInterface({ input, terminal: tty, crlfDelay: Infinity, ...(tty ? { output: process.stdout } : {}) });
  const prompt = tty ? () => rl.prompt() : () => {};

  const printing = options.events$.subscribe((event) => options.print(event));
  const stop$ = merge(
    fromEvent(process, 'SIGINT'),
    fromEvent(process, 'SIGTERM'),
    fromEvent(rl, 'SIGINT'), // Ctrl-C when readline owns the terminal
    fromEvent(process.stdout, 'error'), // nobody reads our output any more
  );
  const lines$ = fromEvent(rl, 'line', (line: string) => line).pipe(takeUntil(fromEvent(rl, 'close')));
  type Step = () => Promise<'quit' | void>;
  const steps$ = lines$.pipe(
    map((line): Step => () => execute(line)),
    startWith<Step>(async () => {
      await options.start?.();
      prompt();
    }),
    concatMap((step) => defer(step)),
    takeWhile((result) => result !== 'quit'),
    takeUntil(stop$),
  );

  try {
    await lastValueFrom(steps$, { defaultValue: undefined });
  } finally {
    rl.close();
    await options.stop();
    printing.unsubscribe();
  }

  async function execute(line: string): Promise<'quit' | void> {
    try {
      if ((await options.execute(line)) === 'quit') return 'quit';
    } catch (error) {
      options.report(error);
    }
    prompt();
  }
}
