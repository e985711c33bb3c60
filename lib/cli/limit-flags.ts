/**
 * The limit and TLS flags every subcommand shares (`--max-connections`, `--max-content`,
 * `--frame-timeout`, `--idle-timeout`, `--max-queue`, `--max-queue-total`, `--max-inbound-total`, `--write-timeout`,
 * `--heartbeat`, `--tls-cert`, `--tls-key`,
 * `--tls-ca`, and on the listening subcommands `--first-message-timeout` and
 * `--handshake-timeout`): their `util.parseArgs` specs, their parsing into hub options, and their
 * help lines. A flag left out keeps the library's default.
 */
import { InvalidOptionError } from '../errors.js';
import type { ClientOptions } from '../hub/client.js';
import type { ServerOptions } from '../hub/server.js';
import { UsageError, type OptionSpec } from './args.js';
import { parseDuration } from './duration.js';
import { parseSize } from './size.js';

/** Whether a subcommand accepts connections (server, tracker, peer) or only dials (client). */
export type FlagSide = 'listen' | 'dial';

/** Limits of every connection, dialled or accepted. */
export type ConnectionLimits = Pick<
  ClientOptions,
  'maxConnections' | 'maxContentBytes' | 'maxQueueBytes' | 'maxQueuedBytesTotal' | 'maxInboundBytesTotal' | 'writeTimeoutMs' | 'frameTimeoutMs' | 'idleTimeoutMs' | 'heartbeatMs'
>;

/** Limits of a listener only. */
export type ListenLimits = Pick<ServerOptions, 'firstMessageTimeoutMs' | 'handshakeTimeoutMs'>;

/** Files named by `--tls-cert`, `--tls-key`, `--tls-ca`; read at start (see `flag-files.ts`). */
export interface TlsFiles {
  readonly cert?: string;
  readonly key?: string;
  readonly ca?: string;
}

/** What the shared flags ask for. */
export interface LimitArgs {
  readonly connection: ConnectionLimits;
  /** Empty for a client. */
  readonly listen: ListenLimits;
  /** Undefined when no TLS flag was given: plain TCP. */
  readonly tls: TlsFiles | undefined;
}

const SIZES = {
  'max-content': 'maxContentBytes',
  'max-queue': 'maxQueueBytes',
  'max-queue-total': 'maxQueuedBytesTotal',
  'max-inbound-total': 'maxInboundBytesTotal',
} as const;
const DURATIONS = {
  'write-timeout': 'writeTimeoutMs',
  'frame-timeout': 'frameTimeoutMs',
  'idle-timeout': 'idleTimeoutMs',
  heartbeat: 'heartbeatMs',
} as const;
const LISTEN_DURATIONS = { 'first-message-timeout': 'firstMessageTimeoutMs', 'handshake-timeout': 'handshakeTimeoutMs' } as const;
const TLS = { 'tls-cert': 'cert', 'tls-key': 'key', 'tls-ca': 'ca' } as const;
/** Deadlines that `off` (or 0) turns off; the handshake deadline cannot be. */
const MAY_BE_OFF = new Set(['write-timeout', 'frame-timeout', 'idle-timeout', 'heartbeat', 'first-message-timeout']);
/** Sizes that `off` turns off (the library's 0). */
const SIZE_MAY_BE_OFF = new Set(['max-queue-total', 'max-inbound-total']);

/** The `util.parseArgs` specs of the shared flags of one side. */
export function limitFlagSpec(side: FlagSide): OptionSpec {
  const names = ['max-connections', ...Object.keys(SIZES), ...Object.keys(DURATIONS), ...Object.keys(TLS), ...(side === 'listen' ? Object.keys(LISTEN_DURATIONS) : [])];
  return Object.fromEntries(names.map((name) => [name, { type: 'string' as const }]));
}

/**
 * Reads the shared flags from `util.parseArgs` values.
 * @throws UsageError naming the flag whose value does not parse, or TLS flags that do not go together
 * @example
 * parseLimitFlags({ 'max-content': '64kb', 'idle-timeout': '30s' }, 'listen').connection // { maxContentBytes: 65536, idleTimeoutMs: 30000 }
 */
export function parseLimitFlags(values: Readonly<Record<string, unknown>>, side: FlagSide): LimitArgs {
  const text = (flag: string) => values[flag] as string | undefined;
  const limits: Record<string, number> = {};
  const listen: Record<string, number> = {};
  const maxConnections = text('max-connections');
  if (maxConnections !== undefined) limits['maxConnections'] = parseCount(maxConnections, '--max-connections');
  for (const [flag, option] of Object.entries(SIZES)) {
    const value = text(flag);
    if (value !== undefined) limits[option] = SIZE_MAY_BE_OFF.has(flag) && /^\s*off\s*$/i.test(value) ? 0 : parseSize(value, `--${flag}`);
  }
  for (const [flag, option] of Object.entries(DURATIONS)) {
    const value = text(flag);
    if (value !== undefined) limits[option] = deadline(value, flag);
  }
  if (side === 'listen') {
    for (const [flag, option] of Object.entries(LISTEN_DURATIONS)) {
      const value = text(flag);
      if (value !== undefined) listen[option] = deadline(value, flag);
    }
  }
  return { connection: limits, listen, tls: tlsFiles(values, side) };
}

/** A help line: the flag, then its text at a common column. */
export function flagHelpLine(flag: string, text: string): string {
  return `  ${flag.padEnd(26)} ${text}`;
}

/** The help section of the shared flags, a blank line first. */
export function limitFlagHelp(side: FlagSide): string[] {
  const line = flagHelpLine;
  return [
    '',
    'limits and TLS (durations: 500ms, 2s, 1m, a bare number is ms; sizes: 64kb, 1mb, 1gb, a bare',
    'number is bytes, 1kb = 1024; a deadline said "off" is turned off):',
    line('--max-connections N', 'connections held at once; more are refused (default 10000)'),
    line('--max-content SIZE', 'largest content a received message may have (default 64mb)'),
    line('--max-queue SIZE', 'bytes queued per connection; past it the reader is closed as slow-consumer (default 64mb)'),
    line('--max-queue-total SIZE', 'bytes queued over all connections; past it those holding most are closed (default 256mb)'),
    line('--max-inbound-total SIZE', 'bytes of unfinished received frames over all connections (default 256mb)'),
    line('--write-timeout D', 'close a reader whose queued bytes make no progress this long, as slow-consumer (default 10s)'),
    line('--frame-timeout D', 'time to finish a frame once started (default 60s)'),
    line('--idle-timeout D', 'close a connection silent this long as idle-timeout (default off)'),
    line('--heartbeat D', 'send a connection check after this long without sending (default off)'),
    ...(side === 'listen'
      ? [
          line('--first-message-timeout D', 'time for an accepted connection to say something (default 30s)'),
          line('--handshake-timeout D', 'time for a TLS client to finish its handshake (default 10s)'),
          line('--tls-cert FILE', 'serve TLS with this certificate (PEM) and --tls-key'),
          line('--tls-key FILE', 'the private key (PEM) of --tls-cert'),
          line('--tls-ca FILE', 'require client certificates from this CA (PEM): mutual TLS'),
        ]
      : [
          line('--tls-ca FILE', 'dial with TLS, trusting this CA (PEM)'),
          line('--tls-cert FILE', 'dial with TLS, showing this client certificate (PEM; mutual TLS)'),
          line('--tls-key FILE', 'the private key (PEM) of --tls-cert'),
        ]),
  ];
}

/**
 * Makes a hub from flag values: an option the library still refuses becomes a one-line UsageError
 * (exit status 2), not a stack trace.
 */
export function fromFlags<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (error instanceof InvalidOptionError) throw new UsageError(error.message);
    throw error;
  }
}

function tlsFiles(values: Readonly<Record<string, unknown>>, side: FlagSide): TlsFiles | undefined {
  const files: Record<string, string> = {};
  for (const [flag, key] of Object.entries(TLS)) {
    const value = values[flag] as string | undefined;
    if (value === undefined) continue;
    if (value.trim() === '') throw new UsageError(`--${flag}: expected a file, got ""`);
    files[key] = value;
  }
  if (Object.keys(files).length === 0) return undefined;
  if ((files['cert'] === undefined) !== (files['key'] === undefined)) {
    throw new UsageError(`${files['cert'] === undefined ? '--tls-key' : '--tls-cert'}: goes with ${files['cert'] === undefined ? '--tls-cert' : '--tls-key'}; give both`);
  }
  if (side === 'listen' && files['cert'] === undefined) throw new UsageError('--tls-ca: listening with TLS needs --tls-cert and --tls-key too');
  return files;
}

function deadline(text: string, flag: string): number {
  if (MAY_BE_OFF.has(flag) && /^\s*(off|0)\s*$/i.test(text)) return 0;
  return parseDuration(text, `--${flag}`);
}

function parseCount(text: string, what: string): number {
  const n = /^[0-9]+$/.test(text.trim()) ? Number(text) : NaN;
  if (!(Number.isSafeInteger(n) && n >= 1)) throw new UsageError(`${what}: expected a whole number >= 1, got ${JSON.stringify(text)}`);
  return n;
}
