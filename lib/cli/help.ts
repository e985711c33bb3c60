/** The `--help` texts of the command and of each console. */
import { commandHelp, type ConsoleKind } from './commands.js';
import { flagHelpLine, limitFlagHelp } from './limit-flags.js';
import { peerCommandHelp, trackerCommandHelp } from './peer-commands.js';

/** `rx-tcp-hub --help`. */
export const MAIN_HELP = `rx-tcp-hub: consoles over the seed's TCP wire format (header + content messages).

usage:
  rx-tcp-hub server [--host H] [--port P] [--json]   accept connections and manage them
                    [--workers N --redis URL]        ... on N processes joined through Redis
  rx-tcp-hub client [--connect host:port]... [--json] open connections and manage them
  rx-tcp-hub tracker [--port 5000] [--json]           the filer's tracker: who is online, where
                     [--workers N --redis URL]
  rx-tcp-hub peer --id NAME [--tracker host:port]     a filer peer: chat and file transfer
  rx-tcp-hub <subcommand> --help                      options and console commands

Every subcommand also takes limit flags (--max-connections, --max-content, --frame-timeout,
--idle-timeout, --max-queue, --max-queue-total, --write-timeout, --heartbeat, ...) and TLS flags
(--tls-cert, --tls-key, --tls-ca).
Commands are read one per line from stdin; the console ends on quit, at the end of input, or on
SIGINT or SIGTERM (exit status 0).`;

const OPTIONS: Record<ConsoleKind, string[]> = {
  server: [
    'usage: rx-tcp-hub server [--host H] [--port P] [--json] [limits and TLS]',
    '',
    'Listens for connections (the seed\'s server_example). The first line printed is the address',
    'listened on, e.g. "listening on 127.0.0.1:40123".',
    '',
    '  --host H     address to listen on (default 127.0.0.1; 0.0.0.0 accepts other machines)',
    '  --port P     port to listen on (default 0: a free port, shown on the first line)',
  ],
  client: [
    'usage: rx-tcp-hub client [--connect host:port]... [--json] [limits and TLS]',
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
    ...(kind === 'server' ? scaleHelp('hub') : []),
    ...limitFlagHelp(kind === 'server' ? 'listen' : 'dial'),
    '',
    'commands, one per line (<conn> is an index shown by list, or an id such as c1):',
    ...commandHelp(kind).map((line) => `  ${line}`),
    '',
    'Text travels as the header {info: text}; text holding ":" or ";" (which a header value cannot',
    'carry) travels as {info: ""} with the text as UTF-8 content.',
  ].join('\n');
}

/** `--workers N --redis URL` (server and tracker): loaded only with them, as they need ioredis. */
function scaleHelp(what: string): string[] {
  return [
    '',
    'scale out (needs the optional dependency ioredis and a Redis server):',
    flagHelpLine('--workers N', `run N ${what} processes sharing the port (node:cluster), default 1`),
    flagHelpLine('--redis URL', 'join them (and any other process on that Redis) through this Redis'),
    flagHelpLine('', 'Scaled out there is no console: each worker prints one line per event, prefixed'),
    flagHelpLine('', 'with its hub id; SIGINT or SIGTERM stops them all. Limit, TLS and secret flags apply'),
    flagHelpLine('', 'to every worker.'),
  ];
}

/** The filer's secret flags. */
const SECRET_HELP = [
  '',
  'secret (the tracker and every peer must have the same one):',
  flagHelpLine('--secret TEXT', 'said first on each connection dialled; accepted connections that do'),
  flagHelpLine('', 'not say it close as auth-failed (it travels as is: use TLS off loopback)'),
  flagHelpLine('--secret-file FILE', 'the secret, read from a file (a trailing line break is ignored)'),
];

/** `rx-tcp-hub tracker --help`. */
export const TRACKER_HELP = [
  'usage: rx-tcp-hub tracker [--host H] [--port 5000] [--interval 2s] [--expire 6s] [--json]',
  '                          [--secret TEXT] [limits and TLS]',
  '',
  "The filer's tracker (the seed's ip_server). Peers report {ID, Port} every interval; every",
  'interval the tracker sends each live peer the table as {Broadcast: ""} with the body',
  '"ID,IP,Port;ID,IP,Port" (IP as the tracker sees the peer). A peer whose reports stop for',
  '--expire, or whose connection closes, leaves the table. Joins and leaves are printed. The first',
  'line printed is the address listened on.',
  '',
  '  --host H        address to listen on (default 127.0.0.1; 0.0.0.0 accepts other machines)',
  '  --port P        port to listen on (default 5000; 0: a free port, shown on the first line)',
  '  --interval D    time between two broadcasts (default 2s; 500ms, 2s, 1m; a bare number is ms)',
  '  --expire D      a peer silent this long leaves the table (default 6s)',
  '  --json          print every event as one JSON line',
  '  -h, --help      show this help',
  ...SECRET_HELP,
  ...scaleHelp('tracker'),
  ...limitFlagHelp('listen'),
  '',
  'commands, one per line:',
  ...trackerCommandHelp().map((line) => `  ${line}`),
].join('\n');

/** `rx-tcp-hub peer --help`. */
export const PEER_HELP = [
  'usage: rx-tcp-hub peer --id NAME [--tracker host:port] [--host H] [--port 63330]',
  '                       [--share DIR] [--downloads DIR] [--interval 2s] [--progress 2s] [--json]',
  '                       [--secret TEXT] [limits and TLS]',
  '',
  "A filer peer (the seed's filer_client). Listens on --port or the next free port (the first line",
  'printed is the address it got), reports {ID, Port} to the tracker every interval, keeps an',
  "address book from the tracker's broadcasts, chats with other peers and transfers files.",
  '',
  '  --id NAME          the name reported to the tracker (no spaces, ":", ";" or ",")',
  '  --tracker H:P      the tracker (a bare host means port 5000); without it, connect by host:port',
  '  --host H           address to listen on (default 127.0.0.1; 0.0.0.0 accepts other machines)',
  '  --port P           first port to try (default 63330; 0: a free port)',
  '  --share DIR        the folder other peers may ls and get from (default: the current folder)',
  '  --downloads DIR    where gets and peers\' puts land (default ./downloads, made if missing)',
  '  --interval D       time between two reports to the tracker (default 2s)',
  '  --progress D       time between two progress lines when the output is not a terminal (default 2s)',
  '  --json             print every event as one JSON line',
  '  -h, --help         show this help',
  ...SECRET_HELP,
  ...limitFlagHelp('listen'),
  'The limits apply to the connections of both directions and to the tracker link. The peer shows',
  'its certificate both to listen and to dial (to the tracker and to peers that require one), so',
  'with --tls-ca it needs one made for server and client use.',
  '',
  'commands, one per line (<peer> is a name from peers, host:port, or a connection from list;',
  'a peer named by name or address is connected to on demand; quote names with spaces: "my file"):',
  ...peerCommandHelp().map((line) => `  ${line}`),
  '',
  'Text travels as the header {info: text}; text holding ":" or ";" travels as {info: ""} with the',
  'text as UTF-8 content. On a terminal a transfer shows a progress bar; every transfer ends with a',
  'summary line: size, time, MB/s, and the SHA-256 the receiver verified.',
].join('\n');
