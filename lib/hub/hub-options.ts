/**
 * The options of a hub: those of its connections, plus the hub's own limits, its authentication
 * gate and its greeting. Checked once, when the hub is made, so that a bad value is refused before
 * any connection exists; the defaults that depend on which side opened a connection live here.
 */
import { InvalidOptionError } from '../errors.js';
import { bytes, count, duration, resolveMessengerOptions, type MessengerOptions } from '../connection/options.js';
import { encodeFrame } from '../protocol/encode.js';
import type { Frame, HeaderInput } from '../protocol/message.js';
import type { Messenger } from '../connection/messenger.js';
import type { Authenticate } from './authenticate.js';

/** Default largest number of connections a hub holds at once (authenticated or not). */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** Default deadline for the first message on an accepted connection: 30 s. */
export const DEFAULT_FIRST_MESSAGE_TIMEOUT_MS = 30_000;
/** Default delay of the seed's connection check on a dialled connection that has sent nothing: 5 s. */
export const DEFAULT_CONNECT_CHECK_MS = 5000;
/**
 * Default budget for queued bytes over all of a hub's connections: 256 MiB. With the 10,000
 * connections `maxConnections` allows, that is what keeps stalled peers from holding more than a
 * quarter of a 1 GB machine, whatever each one's `maxQueueBytes`.
 */
export const DEFAULT_MAX_QUEUED_BYTES_TOTAL = 256 * 1024 * 1024;
/**
 * Default budget for bytes of partly received frames over all of a hub's connections: 256 MiB.
 * Without it, 500 peers that each announce 64 MiB and send half of it hold 16 GB.
 */
export const DEFAULT_MAX_INBOUND_BYTES_TOTAL = 256 * 1024 * 1024;
/** Default deadline for the first message to pass `authenticate`: 10 s. */
export const DEFAULT_AUTH_TIMEOUT_MS = 10_000;

/** A message a hub sends first on each of its connections (e.g. credentials). */
export interface Hello {
  readonly header: HeaderInput;
  readonly content?: Uint8Array;
}

export interface HubOptions extends MessengerOptions {
  /** Prefix of connection ids: `c` gives `c1`, `c2`, ... Default `c`. */
  readonly idPrefix?: string;
  /**
   * Connections held at once, counting those still authenticating; one more is refused at once
   * (destroyed, counted in `stats().refusals`). Default 10,000.
   */
  readonly maxConnections?: number;
  /**
   * Budget for bytes queued over all the hub's connections (frames accepted, not yet taken by the
   * kernel; a broadcast's frame counts once per target). A frame that would pass it closes the
   * connections holding the most, as `slow-consumer` (`ERR_HUB_QUEUE_FULL`), until it fits.
   * 0 turns it off. Default 256 MiB.
   */
  readonly maxQueuedBytesTotal?: number;
  /**
   * Budget for bytes of partly received frames over all the hub's connections. Past it, the
   * connections holding the most unfinished bytes are closed as `inbound-budget`
   * (`ERR_INBOUND_BUDGET`). 0 turns it off. Default 256 MiB.
   */
  readonly maxInboundBytesTotal?: number;
  /**
   * The gate: a connection's first message must pass it within `authTimeoutMs`, or the connection
   * closes (`auth-failed`, `auth-timeout`). Until it passes, the connection is not in `messengers`,
   * `connections$` has no `open` for it and nothing of it reaches `incoming$`; the first message
   * itself is never delivered. Default: none (every connection is in at once).
   */
  readonly authenticate?: Authenticate<Messenger>;
  /** Deadline for the first message and the verdict of `authenticate`. Default 10 s. */
  readonly authTimeoutMs?: number;
  /** A message sent first on every connection of the hub, before anything else: credentials, say. Default: none. */
  readonly hello?: Hello;
}

/** Which side opened a connection; the hub's defaults differ a little between the two. */
export type ConnectionSide = 'accepted' | 'dialled';

/** A hub's options, checked, with the per-side connection options ready for each Messenger. */
export interface ResolvedHubOptions {
  readonly maxConnections: number;
  readonly maxQueuedBytesTotal: number;
  readonly maxInboundBytesTotal: number;
  readonly authTimeoutMs: number;
  readonly hello: Frame | undefined;
  /** Options of a Messenger by the side that opened it; `unknown` when the caller did not say. */
  readonly connection: Readonly<Record<ConnectionSide | 'unknown', MessengerOptions>>;
}

/**
 * Checks a hub's options and prepares the per-side ones.
 * @throws InvalidOptionError naming the first unusable option; FrameEncodeError for a `hello` the wire cannot carry
 */
export function resolveHubOptions(options: HubOptions): ResolvedHubOptions {
  resolveMessengerOptions(options);
  if (options.authenticate !== undefined && typeof options.authenticate !== 'function') {
    throw new InvalidOptionError('authenticate', options.authenticate, 'a function');
  }
  if (options.hello !== undefined && (typeof options.hello !== 'object' || options.hello === null)) {
    throw new InvalidOptionError('hello', options.hello, 'a { header, content? } message');
  }
  return {
    maxConnections: count('maxConnections', options.maxConnections, DEFAULT_MAX_CONNECTIONS),
    maxQueuedBytesTotal: bytes('maxQueuedBytesTotal', options.maxQueuedBytesTotal, DEFAULT_MAX_QUEUED_BYTES_TOTAL),
    maxInboundBytesTotal: bytes('maxInboundBytesTotal', options.maxInboundBytesTotal, DEFAULT_MAX_INBOUND_BYTES_TOTAL),
    authTimeoutMs: positive('authTimeoutMs', duration('authTimeoutMs', options.authTimeoutMs, DEFAULT_AUTH_TIMEOUT_MS)),
    hello: options.hello && encodeFrame(options.hello.header, options.hello.content),
    connection: {
      // The seed's accepting side expects a first message (its clients send a check at 5 s) ...
      accepted: { ...options, firstMessageTimeoutMs: options.firstMessageTimeoutMs ?? DEFAULT_FIRST_MESSAGE_TIMEOUT_MS },
      // ... and its connecting side sends that check if it has said nothing else by then.
      dialled: { ...options, connectCheckMs: options.connectCheckMs ?? DEFAULT_CONNECT_CHECK_MS },
      unknown: options,
    },
  };
}

function positive(name: string, value: number): number {
  if (value === 0) throw new InvalidOptionError(name, value, 'a whole number of milliseconds > 0');
  return value;
}
