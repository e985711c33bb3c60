/** The `--help` texts of the command and of each console. */
import { commandHelp, type ConsoleKind } from './commands.js';

/** `rx-tcp-hub --help`. */
export const MAIN_HELP = `rx-tcp-hub: consoles over the seed's TCP wire format (header + content messages).

usage:
  rx-tcp-hub server [--host H] [--port P] [--json]   accept connections and manage them
  rx-tcp-hub client [--connect host:port]... [--json] open connections and manage them
  rx-tcp-hub <server|client> --help                   options and console commands

Commands are read one per line from stdin; the console ends on quit or at the end of input.`;

const OPTIONS: Record<ConsoleKind, string[]> = {
  server: [
    'usage: rx-tcp-hub server [--host H] [--port P] [--json]',
    '',
    'Listens for connections (the seed\'s server_example). The first line printed is the address',
    'listened on, e.g. "listening on 127.0.0.1:40123".',
    '',
    '  --host H     address to listen on (default 127.0.0.1; 0.0.0.0 accepts other machines)',
    '  --port P     port to listen on (default 0: a free port, shown on the first line)',
  ],
  client: [
    'usage: rx-tcp-hub client [--connect host:port]... [--json]',
    '',
    'Opens connections to servers or peers (the seed\'s client_example).',
    '',
    '  --connect host:port   connect at start; repeat for more connections',
  ],
};

/** `rx-tcp-hub server --help` or `rx-tcp-hub client --help`. */
export function consoleHelp(kind: ConsoleKind): string {
  return [
    ...OPTIONS[kind],
    '  --json       print every event as one JSON line',
    '  -h, --help   show this help',
    '',
    'commands, one per line (<conn> is an index shown by list, or an id such as c1):',
    ...commandHelp(kind).map((line) => `  ${line}`),
    '',
    'Text travels as the header {info: text}; text holding ":" or ";" (which a header value cannot',
    'carry) travels as {info: ""} with the text as UTF-8 content.',
  ].join('\n');
}
