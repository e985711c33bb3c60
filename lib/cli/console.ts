/**
 * The line-command loop both consoles share. Lines from stdin become steps run one at a time, in
 * order, so a piped script behaves as if typed; the loop ends on `quit`, at the end of input, or on
 * SIGINT / SIGTERM, and then stops the hub. Nothing a user types can throw out of the loop: every
 * failure becomes one `error` event.
 */
import { createInterface } from 'node:readline';
import { Observable, defer, fromEvent, lastValueFrom, map, merge, concatMap, startWith, takeUntil, takeWhile } from 'rxjs';
import { formatAddress } from '../connection/close-reason.js';
import type { Hub } from '../hub/hub.js';
import { commandHelp, parseCommand, type Command, type ConsoleKind } from './commands.js';
import { errorEvent, listEvent, type ConsoleEvent } from './events.js';
import type { Printer } from './printer.js';
import { textMessage } from './text.js';
import { UsageError } from './args.js';

export interface ConsoleOptions {
  readonly kind: ConsoleKind;
  readonly hub: Hub;
  readonly printer: Printer;
  /** What the console reports besides command results: opens, closes, messages, failed dials. */
  readonly events$: Observable<ConsoleEvent>;
  /** Opens one more connection; settles once the dial has (client only). */
  readonly dial?: (host: string, port: number) => Promise<void>;
  /** Work done before the first command, e.g. the client's `--connect` dials. */
  readonly start?: () => Promise<unknown>;
  /** Where commands come from. Default stdin; a prompt is shown only when it and stdout are TTYs. */
  readonly input?: NodeJS.ReadableStream & { isTTY?: boolean };
}

type Step = () => Promise<'quit' | void>;

/**
 * Runs a console until `quit`, end of input or a signal; resolves once its hub has stopped and
 * nothing is left holding the process open.
 */
export async function runConsole(options: ConsoleOptions): Promise<void> {
  const { hub, printer } = options;
  const input = options.input ?? process.stdin;
  const tty = input.isTTY === true && process.stdout.isTTY === true;
  const rl = createInterface({ input, terminal: tty, crlfDelay: Infinity, ...(tty ? { output: process.stdout } : {}) });
  const prompt = tty ? () => rl.prompt() : () => {};

  const printing = options.events$.subscribe((event) => printer.print(event));
  const stop$ = merge(
    fromEvent(process, 'SIGINT'),
    fromEvent(process, 'SIGTERM'),
    fromEvent(rl, 'SIGINT'), // Ctrl-C when readline owns the terminal
    fromEvent(process.stdout, 'error'), // nobody reads our output any more
  );
  const lines$ = fromEvent(rl, 'line', (line: string) => line).pipe(takeUntil(fromEvent(rl, 'close')));
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
    await hub.stop();
    printing.unsubscribe();
  }
  printer.print({ event: 'stopped' });

  async function execute(line: string): Promise<'quit' | void> {
    let command: Command;
    try {
      command = parseCommand(line, options.kind);
      if (command.name === 'quit') return 'quit';
      await run(command);
    } catch (error) {
      printer.print(errorEvent(error));
    }
    prompt();
  }

  async function run(command: Exclude<Command, { name: 'quit' }>): Promise<void> {
    switch (command.name) {
      case 'nothing':
        return;
      case 'help':
        return printer.print({ event: 'help', commands: commandHelp(options.kind) });
      case 'list':
        return printer.print(listEvent(hub.messengers));
      case 'connect':
        if (!options.dial) throw new UsageError('this console cannot connect');
        return options.dial(command.host, command.port);
      case 'send': {
        const target = hub.get(command.conn);
        if (!target) throw new UsageError(`no connection ${JSON.stringify(command.conn)}; type list to see them`);
        const { header, content } = textMessage(command.text);
        const outcome = await hub.send(target, header, content);
        if (!outcome.ok) throw outcome.error;
        return printer.print({ event: 'sent', to: target.id, addr: formatAddress(target.addr) });
      }
      case 'broadcast': {
        const { header, content } = textMessage(command.text);
        const outcomes = await hub.broadcast(header, content);
        for (const outcome of outcomes) {
          if (!outcome.ok) printer.print(errorEvent(outcome.error));
        }
        return printer.print({
          event: 'broadcast',
          to: outcomes.filter((o) => o.ok).map((o) => o.target.id),
          failed: outcomes.filter((o) => !o.ok).map((o) => o.target.id),
        });
      }
      case 'close':
        if (!hub.closeConnection(command.conn)) {
          throw new UsageError(`no connection ${JSON.stringify(command.conn)}; type list to see them`);
        }
        return;
    }
  }
}
