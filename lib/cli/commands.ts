/**
 * The console's command language: one command per line, by name or by the seed's menu number
 * (`0` connect, `1` send, `2` broadcast), with its arguments on the same line. Parsing is pure;
 * `console.ts` runs the result.
 */
import { UsageError, parseEndpoint } from './args.js';
import { commandName, parseBroadcastText, parseSendArgs, parseSharedCommand, splitCommandLine, unknownCommand } from './shared-commands.js';
import { STATS_HELP } from './stats.js';

/** One parsed command line. `conn` is an index shown by `list`, or a connection id. */
export type Command =
  | { readonly name: 'list' }
  | { readonly name: 'connect'; readonly host: string; readonly port: number }
  | { readonly name: 'send'; readonly conn: string; readonly text: string }
  | { readonly name: 'broadcast'; readonly text: string }
  | { readonly name: 'close'; readonly conn: string }
  | { readonly name: 'stats'; readonly json: boolean }
  | { readonly name: 'help' }
  | { readonly name: 'quit' }
  | { readonly name: 'nothing' };

/** Which console reads the line: only the client's can `connect`. */
export type ConsoleKind = 'server' | 'client';

/** The commands and their usage, as `help` prints them. */
export function commandHelp(kind: ConsoleKind): string[] {
  return [
    'list                     show the connections: index, id, address',
    ...(kind === 'client' ? ['connect <host:port>      open one more connection (menu: 0 <host:port>)'] : []),
    'send <conn> <text>       send text to one connection, by index or id (menu: 1 <conn> <text>)',
    'broadcast <text>         send text to every connection (menu: 2 <text>)',
    'close <conn>             close one connection',
    STATS_HELP,
    'help                     show this list',
    'quit                     close everything and exit (end of input does the same)',
  ];
}

const USAGE = {
  connect: 'usage: connect <host:port>',
  send: 'usage: send <conn> <text>',
  broadcast: 'usage: broadcast <text>',
  close: 'usage: close <conn>',
} as const;

/**
 * Parses one line. Text keeps its inner and trailing spaces; a blank line is `nothing`.
 * @throws UsageError with a one-line message for an unknown command or bad arguments.
 * @example
 * parseCommand('1 c2 hello there', 'server') // { name: 'send', conn: 'c2', text: 'hello there' }
 */
export function parseCommand(line: string, kind: ConsoleKind): Command {
  const { word, rest } = splitCommandLine(line);
  const name = commandName(word, true);
  const shared = parseSharedCommand(name, rest, ['list', 'help', 'quit']);
  if (shared) return shared;
  switch (name) {
    case 'connect': {
      if (kind !== 'client') throw new UsageError('connect is a client console command (rx-tcp-hub client)');
      if (rest === '' || /\s/.test(rest.trim())) throw new UsageError(USAGE.connect);
      const { host, port } = parseEndpoint(rest.trim(), 'connect');
      return { name, host, port };
    }
    case 'send': {
      const { to, text } = parseSendArgs(rest, USAGE.send);
      return { name, conn: to, text };
    }
    case 'broadcast':
      return { name, text: parseBroadcastText(rest, USAGE.broadcast) };
    case 'close':
      if (rest === '' || /\s/.test(rest.trim())) throw new UsageError(USAGE.close);
      return { name, conn: rest.trim() };
    default:
      throw unknownCommand(word);
  }
}
