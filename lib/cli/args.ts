/**
 * Command-line arguments of the two consoles, parsed with `util.parseArgs`. Every mistake becomes a
 * `UsageError` whose message fits on one line; `main.ts` prints it and exits with status 2.
 */
import { parseArgs } from 'node:util';
import { limitFlagSpec, parseLimitFlags, type LimitArgs } from './limit-flags.js';

/** A mistake in the command line or in a typed command; its message is one line. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A host and port to dial. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** Options of `rx-tcp-hub server`. */
export interface ServerArgs {
  readonly host: string;
  readonly port: number;
  readonly json: boolean;
  readonly help: boolean;
  /** The limit and TLS flags. */
  readonly limits: LimitArgs;
}

/** Options of `rx-tcp-hub client`. */
export interface ClientArgs {
  readonly connect: readonly Endpoint[];
  readonly json: boolean;
  readonly help: boolean;
  /** The limit and TLS flags. */
  readonly limits: LimitArgs;
}

/**
 * Parses `[--host H] [--port P] [--json] [--help]` and the limit and TLS flags; host defaults to
 * 127.0.0.1, port to 0.
 */
export function parseServerArgs(argv: readonly string[]): ServerArgs {
  const values = parseOptions(argv, {
    host: { type: 'string' },
    port: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    ...limitFlagSpec('listen'),
  });
  const host = (values['host'] as string | undefined) ?? '127.0.0.1';
  if (host.trim() === '') throw new UsageError('--host: expected a host name or address, got ""');
  const port = values['port'] === undefined ? 0 : parsePort(values['port'] as string, { allowZero: true }, '--port');
  return { host, port, json: values['json'] === true, help: values['help'] === true, limits: parseLimitFlags(values, 'listen') };
}

/** Parses `[--connect host:port]... [--json] [--help]` and the limit and TLS flags. */
export function parseClientArgs(argv: readonly string[]): ClientArgs {
  const values = parseOptions(argv, {
    connect: { type: 'string', multiple: true },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    ...limitFlagSpec('dial'),
  });
  const connect = ((values['connect'] as string[] | undefined) ?? []).map((text) => parseEndpoint(text, '--connect'));
  return { connect, json: values['json'] === true, help: values['help'] === true, limits: parseLimitFlags(values, 'dial') };
}

/**
 * Parses `host:port`, or `[v6-address]:port`, with a port from 1 to 65535.
 * @param what names the argument in the error message, e.g. `--connect`.
 * @throws UsageError naming the offending text.
 * @example
 * parseEndpoint('127.0.0.1:5000') // { host: '127.0.0.1', port: 5000 }
 */
export function parseEndpoint(text: string, what = 'address'): Endpoint {
  const match = /^\[([^\]\s]+)\]:([^:]*)$/.exec(text) ?? /^([^\s:[\]]+):([^:]*)$/.exec(text);
  if (!match) throw new UsageError(`${what}: expected host:port (e.g. 127.0.0.1:5000), got ${JSON.stringify(text)}`);
  return { host: match[1]!, port: parsePort(match[2]!, { allowZero: false }, what) };
}

/** Parses a decimal port number; 0 only where `allowZero` (a listener's "pick a free port"). */
export function parsePort(text: string, { allowZero }: { allowZero: boolean }, what = 'port'): number {
  const min = allowZero ? 0 : 1;
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= min && port <= 65535)) {
    throw new UsageError(`${what}: expected a port number from ${min} to 65535, got ${JSON.stringify(text)}`);
  }
  return port;
}

/** The options `parseOptions` reads, as `util.parseArgs` takes them. */
export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

/**
 * `util.parseArgs`, strict and without positionals, its mistakes turned into one-line UsageErrors.
 * @returns the values by flag name
 */
export function parseOptions(argv: readonly string[], options: OptionSpec): Record<string, unknown> {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    // Node's messages go on with advice about `--`; the first sentence is the one that matters.
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(message.split(/\.\s/)[0]!.replace(/\.$/, ''));
  }
}
