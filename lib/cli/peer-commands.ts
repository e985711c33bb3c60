/**
 * The command languages of the filer consoles, one command per line. The peer console also takes
 * the seed's filer menu numbers (`0` connect, `1` send, `2` broadcast). Words may be quoted with
 * `"` to hold spaces (`get bob "my file.txt"`); chat text is the rest of the line, as typed.
 * Parsing is pure; the consoles run the result.
 */
import { UsageError } from './args.js';
import {
  commandName,
  parseBroadcastText,
  parseSendArgs,
  parseSharedCommand,
  splitCommandLine,
  unknownCommand,
  type CommandLine,
} from './shared-commands.js';

/** One parsed line of the peer console. `peer` is a name, `host:port`, a connection id or index. */
export type PeerCommand =
  | { readonly name: 'peers' }
  | { readonly name: 'connect'; readonly peer: string }
  | { readonly name: 'list' }
  | { readonly name: 'send'; readonly to: string; readonly text: string }
  | { readonly name: 'broadcast'; readonly text: string }
  | { readonly name: 'close'; readonly conn: string }
  | { readonly name: 'ls'; readonly peer: string }
  | { readonly name: 'get'; readonly peer: string; readonly file: string; readonly as?: string }
  | { readonly name: 'put'; readonly peer: string; readonly file: string; readonly as?: string }
  | { readonly name: 'transfers' }
  | { readonly name: 'cancel'; readonly id: string }
  | { readonly name: 'stats'; readonly json: boolean }
  | { readonly name: 'help' }
  | { readonly name: 'quit' }
  | { readonly name: 'nothing' };

/** One parsed line of the tracker console. */
export type TrackerCommand = { readonly name: 'peers' | 'help' | 'quit' | 'nothing' } | { readonly name: 'stats'; readonly json: boolean };

/** The peer console's commands and their usage, as `help` prints them. */
export function peerCommandHelp(): string[] {
  return [
    'peers                     the address book: the other peers the tracker lists',
    'connect <peer>            open a connection to a peer (menu: 0 <peer>)',
    'list                      the open connections, both directions: index, id, direction, address',
    'send <conn|peer> <text>   send text to one connection or peer (menu: 1 <conn|peer> <text>)',
    'broadcast <text>          send text to every open connection (menu: 2 <text>)',
    'close <conn>              close one connection',
    "ls <peer>                 the peer's shared files: name and size",
    "get <peer> <name> [as]    download a peer's shared file into the downloads folder",
    "put <peer> <file> [as]    upload a local file into the peer's downloads folder",
    'transfers                 the transfers, active and ended',
    'cancel <transfer>         stop a transfer (e.g. t1) on both sides',
    'stats [--json]            traffic, queued bytes, connections, closes and refusals, all directions',
    'help                      show this list',
    'quit                      close everything and exit (end of input does the same)',
  ];
}

/** The tracker console's commands. */
export function trackerCommandHelp(): string[] {
  return [
    'peers    the peer table: name, address, port, connection, time since the last report',
    'stats    (or stats --json) the server\'s traffic, connections, closes and refusals by reason',
    'help     show this list',
    'quit     stop the tracker and exit (end of input does the same)',
  ];
}

const USAGE = {
  connect: 'usage: connect <peer>',
  send: 'usage: send <conn|peer> <text>',
  broadcast: 'usage: broadcast <text>',
  close: 'usage: close <conn>',
  ls: 'usage: ls <peer>',
  get: 'usage: get <peer> <name> [as]',
  put: 'usage: put <peer> <file> [as]',
  cancel: 'usage: cancel <transfer>',
} as const;

/**
 * Parses one line of the peer console.
 * @throws UsageError with a one-line message for an unknown command or bad arguments
 * @example
 * parsePeerCommand('get bob "big file.bin" copy.bin') // { name: 'get', peer: 'bob', file: 'big file.bin', as: 'copy.bin' }
 * parsePeerCommand('1 bob see you at 9:30')            // { name: 'send', to: 'bob', text: 'see you at 9:30' }
 */
export function parsePeerCommand(line: string): PeerCommand {
  const { word, rest } = splitTrimmed(line);
  const name = commandName(word, true);
  const shared = parseSharedCommand(name, rest, ['peers', 'list', 'transfers', 'help', 'quit']);
  if (shared) return shared;
  switch (name) {
    case 'send':
      return { name, ...parseSendArgs(rest, USAGE.send) };
    case 'broadcast':
      return { name, text: parseBroadcastText(rest, USAGE.broadcast) };
    case 'connect':
    case 'ls': {
      const [peer] = words(rest, 1, 1, USAGE[name]);
      return { name, peer: peer! };
    }
    case 'close': {
      const [conn] = words(rest, 1, 1, USAGE.close);
      return { name, conn: conn! };
    }
    case 'cancel': {
      const [id] = words(rest, 1, 1, USAGE.cancel);
      return { name, id: id! };
    }
    case 'get':
    case 'put': {
      const [peer, file, as] = words(rest, 2, 3, USAGE[name]);
      return as === undefined ? { name, peer: peer!, file: file! } : { name, peer: peer!, file: file!, as };
    }
    default:
      throw unknownCommand(word);
  }
}

/**
 * Parses one line of the tracker console.
 * @throws UsageError for anything but `peers`, `stats [--json]`, `help`, `quit` (or `exit`) and a blank line
 */
export function parseTrackerCommand(line: string): TrackerCommand {
  const { word, rest } = splitTrimmed(line);
  const command = parseSharedCommand(commandName(word, false), rest, ['peers', 'help', 'quit']);
  if (!command) throw unknownCommand(word);
  return command;
}

/** The filer consoles' split: as every console's, with trailing blanks dropped from the rest. */
function splitTrimmed(line: string): CommandLine {
  const { word, rest } = splitCommandLine(line);
  return { word, rest: rest.trimEnd() };
}

/**
 * Splits arguments into words: runs of non-blanks, or `"..."` (with `\"` and `\\` inside).
 * @throws UsageError `usage` when there are fewer than `min` or more than `max` words, or a quote is not closed
 */
function words(text: string, min: number, max: number, usage: string): string[] {
  const found: string[] = [];
  const pattern = /\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))/gy;
  let match: RegExpExecArray | null;
  let end = 0;
  while ((match = pattern.exec(text)) !== null && match[0] !== '') {
    found.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2]!);
    end = pattern.lastIndex;
  }
  if (text.slice(end).trim() !== '') throw new UsageError(`${usage} (a quote is not closed)`);
  if (found.length < min || found.length > max) throw new UsageError(usage);
  return found;
}
