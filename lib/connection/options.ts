/**
 * The options of one connection, their defaults, and their validation: done once per Messenger
 * (and once per hub, at construction, so a bad value is refused before any connection exists).
 */
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { InvalidOptionError } from '../errors.js';
import { DEFAULT_MAX_CONTENT_BYTES } from '../protocol/constants.js';

/** Default outbound queue limit per connection: 64 MiB of frames not yet taken by the kernel. */
export const DEFAULT_MAX_QUEUE_BYTES = 64 * 1024 * 1024;
/**
 * Default time queued bytes may make no progress into the kernel before the connection is closed as
 * `slow-consumer`: 10 s (NATS closes a client that blocks a write for 10 s too).
 */
export const DEFAULT_WRITE_TIMEOUT_MS = 10_000;
/** Default bound of the inbox that holds messages while nobody subscribes: 1 MiB. */
export const DEFAULT_MAX_INBOX_BYTES = 1024 * 1024;
/** Default time a locally closed connection may take to flush before it is destroyed. */
export const DEFAULT_LINGER_MS = 2000;
/** Default time a peer has to finish a frame once its first byte arrived: 60 s. */
export const DEFAULT_FRAME_TIMEOUT_MS = 60_000;
/** Default idle time of a connection before TCP keepalive probes start: 60 s. */
export const DEFAULT_KEEPALIVE_DELAY_MS = 60_000;
/** The longest delay a timer can have (Node's limit); longer durations are refused. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** What a send does when the outbound queue has no room for its frame. */
export type QueueFullPolicy = 'fail' | 'close';

export interface MessengerOptions {
  /** Largest content a received frame may announce. Default 64 MiB. */
  readonly maxContentBytes?: number;
  /**
   * Outbound queue limit in bytes (frames accepted and not yet taken by the kernel); a send past it
   * fails with `ERR_QUEUE_FULL` and, by default, closes the connection as `slow-consumer`. Default 64 MiB.
   */
  readonly maxQueueBytes?: number;
  /**
   * What a send past `maxQueueBytes` does besides failing with `ERR_QUEUE_FULL`: `'close'` also
   * closes the connection as `slow-consumer`, whoever sent; `'fail'` leaves it open for the caller
   * to retry (the hub's sends still close it, as failure-close). Default `'close'`.
   */
  readonly onQueueFull?: QueueFullPolicy;
  /**
   * Close as `slow-consumer` (`ERR_WRITE_TIMEOUT`) when queued bytes make no progress into the
   * kernel for this long: the peer stopped reading. Checked four times per period, so the close
   * comes between 1 and 1.25 periods after the last progress. 0 turns it off. Default 10 s.
   */
  readonly writeTimeoutMs?: number;
  /** Bytes of received messages held while nothing subscribes to `messages$`; past it reading pauses. Default 1 MiB. */
  readonly maxInboxBytes?: number;
  /** How long `close()` lets queued frames flush before the socket is destroyed. Default 2000 ms. */
  readonly lingerMs?: number;
  /**
   * Send the seed's connection check `{TP: "Check", ping: n}` whenever nothing was sent for this
   * long; rx-tcp-hub peers answer with a `pong`, which measures `rtt`. 0 turns it off. Default 0.
   */
  readonly heartbeatMs?: number;
  /** Close as `idle-timeout` when nothing was received for this long. 0 turns it off. Default 0. */
  readonly idleTimeoutMs?: number;
  /** Close as `frame-timeout` when a frame is not finished this long after its first byte. 0: off. Default 60 s. */
  readonly frameTimeoutMs?: number;
  /**
   * Close as `first-message-timeout` when no whole message (a connection check counts) arrived
   * this long after opening. 0 turns it off. Default 0; hubs use 30 s for accepted connections.
   */
  readonly firstMessageTimeoutMs?: number;
  /**
   * Send one connection check this long after opening if nothing was sent by then, as the seed's
   * connecting side did. 0 turns it off. Default 0; hubs use 5 s for dialled connections.
   */
  readonly connectCheckMs?: number;
  /**
   * TCP keepalive is always on; this is the idle time before its probes start (whole seconds; 0
   * keeps the system's setting). Default 60 s.
   */
  readonly keepAliveDelayMs?: number;
  /**
   * Keep the latest received message in `header` and `body` (the seed's attributes). Default false:
   * `messages$` delivers every message, and a connection holds nothing between messages. `true` is
   * for code ported from the seed that reads `header` and `body`: each connection then holds its
   * latest content (up to `maxContentBytes`) until the next arrives, which costs memory on many
   * connections and, with large contents, collector time (see the README's Performance section).
   */
  readonly keepLatest?: boolean;
  /** Scheduler for clocks and timers; a `TestScheduler` in marble tests. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/** Every option of a connection with its default applied. */
export interface ResolvedMessengerOptions {
  readonly maxContentBytes: number;
  readonly maxQueueBytes: number;
  readonly onQueueFull: QueueFullPolicy;
  readonly writeTimeoutMs: number;
  readonly maxInboxBytes: number;
  readonly lingerMs: number;
  readonly heartbeatMs: number;
  readonly idleTimeoutMs: number;
  readonly frameTimeoutMs: number;
  readonly firstMessageTimeoutMs: number;
  readonly connectCheckMs: number;
  readonly keepAliveDelayMs: number;
  readonly keepLatest: boolean;
  readonly scheduler: SchedulerLike;
}

/**
 * Applies the defaults and checks every value.
 * @throws InvalidOptionError naming the first option whose value cannot be used
 */
export function resolveMessengerOptions(options: MessengerOptions): ResolvedMessengerOptions {
  const onQueueFull = options.onQueueFull ?? 'close';
  if (onQueueFull !== 'fail' && onQueueFull !== 'close') {
    throw new InvalidOptionError('onQueueFull', onQueueFull, "'fail' or 'close'");
  }
  const keepLatest = options.keepLatest ?? false;
  if (typeof keepLatest !== 'boolean') throw new InvalidOptionError('keepLatest', keepLatest, 'true or false');
  return {
    maxContentBytes: bytes('maxContentBytes', options.maxContentBytes, DEFAULT_MAX_CONTENT_BYTES),
    maxQueueBytes: bytes('maxQueueBytes', options.maxQueueBytes, DEFAULT_MAX_QUEUE_BYTES),
    onQueueFull,
    writeTimeoutMs: duration('writeTimeoutMs', options.writeTimeoutMs, DEFAULT_WRITE_TIMEOUT_MS),
    maxInboxBytes: bytes('maxInboxBytes', options.maxInboxBytes, DEFAULT_MAX_INBOX_BYTES),
    lingerMs: duration('lingerMs', options.lingerMs, DEFAULT_LINGER_MS),
    heartbeatMs: duration('heartbeatMs', options.heartbeatMs, 0),
    idleTimeoutMs: duration('idleTimeoutMs', options.idleTimeoutMs, 0),
    frameTimeoutMs: duration('frameTimeoutMs', options.frameTimeoutMs, DEFAULT_FRAME_TIMEOUT_MS),
    firstMessageTimeoutMs: duration('firstMessageTimeoutMs', options.firstMessageTimeoutMs, 0),
    connectCheckMs: duration('connectCheckMs', options.connectCheckMs, 0),
    keepAliveDelayMs: duration('keepAliveDelayMs', options.keepAliveDelayMs, DEFAULT_KEEPALIVE_DELAY_MS),
    keepLatest,
    scheduler: options.scheduler ?? asyncScheduler,
  };
}

/** A byte count: a whole number >= 0. */
export function bytes(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidOptionError(name, value, 'a whole number of bytes >= 0');
  }
  return value;
}

/** A duration in milliseconds: a whole number from 0 (often: off) to the longest a timer can wait. */
export function duration(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_DURATION_MS) {
    throw new InvalidOptionError(name, value, `a whole number of milliseconds from 0 to ${MAX_DURATION_MS}`);
  }
  return value;
}

/** A count: a whole number >= 1. */
export function count(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError(name, value, 'a whole number >= 1');
  }
  return value;
}
