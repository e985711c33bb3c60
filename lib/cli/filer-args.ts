/**
 * Command-line arguments of `rx-tcp-hub tracker` and `rx-tcp-hub peer`, parsed with
 * `util.parseArgs`. Every mistake becomes a one-line `UsageError` (exit status 2).
 */
import { DEFAULT_EXPIRE_MS, DEFAULT_REPORT_INTERVAL_MS, DEFAULT_TRACKER_PORT } from '../filer/tracker.js';
import { DEFAULT_PEER_PORT } from '../filer/peer.js';
import { peerIdProblem } from '../filer/vocabulary.js';
import { UsageError, parseEndpoint, parseOptions, parsePort, type Endpoint } from './args.js';
import { limitFlagSpec, parseLimitFlags, type LimitArgs } from './limit-flags.js';
import { parseDuration } from './duration.js';

/** Default time between two progress lines when the output is not a terminal. */
export const DEFAULT_PROGRESS_EVERY_MS = 2000;

/** The filer's shared secret: given on the command line, or the name of a file holding it. */
export type SecretArg = { readonly text: string } | { readonly file: string };

/** Options of `rx-tcp-hub tracker`. */
export interface TrackerArgs {
  readonly host: string;
  readonly port: number;
  readonly intervalMs: number;
  readonly expireMs: number;
  readonly json: boolean;
  readonly help: boolean;
  /** The limit and TLS flags. */
  readonly limits: LimitArgs;
  readonly secret: SecretArg | undefined;
}

/** Options of `rx-tcp-hub peer`. */
export interface PeerArgs {
  readonly id: string;
  readonly tracker: Endpoint | undefined;
  readonly host: string;
  readonly port: number;
  readonly share: string;
  readonly downloads: string;
  readonly intervalMs: number;
  readonly progressEveryMs: number;
  readonly json: boolean;
  readonly help: boolean;
  /** The limit and TLS flags: TLS and `--first-message-timeout` apply to both directions' connections. */
  readonly limits: LimitArgs;
  readonly secret: SecretArg | undefined;
}

/** The flags both filer subcommands take besides their own. */
const FILER_FLAGS = {
  secret: { type: 'string' },
  'secret-file': { type: 'string' },
  ...limitFlagSpec('listen'),
} as const;

/**
 * Parses `[--host H] [--port 5000] [--interval 2s] [--expire 6s] [--json] [--help]`, the secret
 * and the limit and TLS flags.
 */
export function parseTrackerArgs(argv: readonly string[]): TrackerArgs {
  const values = parseOptions(argv, {
    host: { type: 'string' },
    port: { type: 'string' },
    interval: { type: 'string' },
    expire: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    ...FILER_FLAGS,
  });
  return {
    host: host(values['host']),
    port: values['port'] === undefined ? DEFAULT_TRACKER_PORT : parsePort(values['port'] as string, { allowZero: true }, '--port'),
    intervalMs: values['interval'] === undefined ? DEFAULT_REPORT_INTERVAL_MS : parseDuration(values['interval'] as string, '--interval'),
    expireMs: values['expire'] === undefined ? DEFAULT_EXPIRE_MS : parseDuration(values['expire'] as string, '--expire'),
    json: values['json'] === true,
    help: values['help'] === true,
    limits: parseLimitFlags(values, 'listen'),
    secret: secretArg(values),
  };
}

/**
 * Parses `--id NAME [--tracker host:port] [--host H] [--port 63330] [--share DIR] [--downloads DIR]
 * [--interval 2s] [--progress 2s] [--json] [--help]`, the secret and the limit and TLS flags.
 * `--tracker` without a port means port 5000.
 */
export function parsePeerArgs(argv: readonly string[]): PeerArgs {
  const values = parseOptions(argv, {
    id: { type: 'string' },
    tracker: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    share: { type: 'string' },
    downloads: { type: 'string' },
    interval: { type: 'string' },
    progress: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    ...FILER_FLAGS,
  });
  const help = values['help'] === true;
  const id = values['id'] as string | undefined;
  if (!help) {
    if (id === undefined) throw new UsageError('missing --id NAME: the name this peer reports to the tracker');
    const problem = peerIdProblem(id);
    if (problem) throw new UsageError(`--id: expected ${problem}, got ${JSON.stringify(id)}`);
  }
  const tracker = values['tracker'] as string | undefined;
  return {
    id: id ?? '',
    tracker: tracker === undefined ? undefined : trackerEndpoint(tracker),
    host: host(values['host']),
    port: values['port'] === undefined ? DEFAULT_PEER_PORT : parsePort(values['port'] as string, { allowZero: true }, '--port'),
    share: folder(values['share'], '.', '--share'),
    downloads: folder(values['downloads'], 'downloads', '--downloads'),
    intervalMs: values['interval'] === undefined ? DEFAULT_REPORT_INTERVAL_MS : parseDuration(values['interval'] as string, '--interval'),
    progressEveryMs: values['progress'] === undefined ? DEFAULT_PROGRESS_EVERY_MS : parseDuration(values['progress'] as string, '--progress'),
    json: values['json'] === true,
    help,
    limits: parseLimitFlags(values, 'listen'),
    secret: secretArg(values),
  };
}

function secretArg(values: Record<string, unknown>): SecretArg | undefined {
  const text = values['secret'] as string | undefined;
  const file = values['secret-file'] as string | undefined;
  if (text !== undefined && file !== undefined) throw new UsageError('--secret and --secret-file: give one of them');
  if (text === '') throw new UsageError('--secret: expected some text, got ""');
  if (file === '') throw new UsageError('--secret-file: expected a file, got ""');
  return text !== undefined ? { text } : file !== undefined ? { file } : undefined;
}

function trackerEndpoint(text: string): Endpoint {
  // A bare host or address: the seed's tracker port.
  if (/^[^\s:[\]]+$/.test(text) || /^\[[^\]\s]+\]$/.test(text)) return { host: text.replace(/^\[|\]$/g, ''), port: DEFAULT_TRACKER_PORT };
  return parseEndpoint(text, '--tracker');
}

function host(value: unknown): string {
  const text = (value as string | undefined) ?? '127.0.0.1';
  if (text.trim() === '') throw new UsageError('--host: expected a host name or address, got ""');
  return text;
}

function folder(value: unknown, fallback: string, what: string): string {
  const text = (value as string | undefined) ?? fallback;
  if (text === '') throw new UsageError(`${what}: expected a folder, got ""`);
  return text;
}

