/**
 * The core consoles (`server`, `client`): their commands run on one hub, inside the shared line
 * loop (`console-loop.ts`), which reads one command per line and stops the hub when it ends.
 */
import { formatAddress } from '../connection/close-reason.js';
import type { Hub } from '../hub/hub.js';
import { commandHelp, parseCommand, type Command, type ConsoleKind } from './commands.js';
import { errorEvent, listEvent, type ConsoleEvent } from './events.js';
import { runConsoleLoop } from './console-loop.js';
import type { Printer } from './printer.js';
import { printStats } from './stats.js';
import { textMessage } from '../text/chat-text.js';
import { UsageError } from './args.js';
import type { Observable } from 'rxjs';

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

/**
 * Runs a console until `quit`, end of input or a signal; resolves once its hub has stopped and
 * nothing is left holding the process open.
 */
export async function runConsole(options: ConsoleOptions): Promise<void> {
  const { hub, printer } = options;
  await runConsoleLoop({
    events$: options.events$,
    printer,
    ...(options.start ? { start: options.start } : {}),
    execute,
    stop: () => hub.stop(),
    ...(options.input ? { input: options.input } : {}),
  });

  async function execute(line: string): Promise<'quit' | void> {
    const command: Command = parseCommand(line, options.kind);
    if (command.name === 'quit') return 'quit';
    await run(command);
  }

  async function run(command: Exclude<Command, { name: 'quit' }>): Promise<void> {
    switch (command.name) {
      case 'nothing':
        return;
      case 'help':
        return printer.print({ event: 'help', commands: commandHelp(options.kind) });
      case 'list':
        return printer.print(listEvent(hub.messengers));
      case 'stats':
        return printStats(printer, hub.stats(), command.json);
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
