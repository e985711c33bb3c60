/**
 * Re-dialling as operators. `retryWithBackoff` resubscribes to a failed source after an
 * exponential, fully jittered, capped delay, and forgets past failures once the source has been up
 * for a stable period. `reconnect` turns a lazy dial (`client.connect(host, port)`) into a stream
 * of connections that dials again whenever the current one closes. All waiting is on a scheduler,
 * so a `TestScheduler` drives it in virtual time.
 */
import {
  Observable,
  asyncScheduler,
  defer,
  retry,
  switchMap,
  tap,
  throwError,
  timer,
  type MonoTypeOperatorFunction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import { HubStoppedError, InvalidOptionError } from '../errors.js';
import type { Messenger } from '../connection/messenger.js';
import { ConnectionLostError } from '../errors.js';

/** Default delay ceiling of the first retry. */
export const DEFAULT_BACKOFF_INITIAL_MS = 100;
/** Default cap of every retry's delay ceiling. */
export const DEFAULT_BACKOFF_MAX_MS = 10_000;
/** Default growth of the delay ceiling from one retry to the next. */
export const DEFAULT_BACKOFF_FACTOR = 2;
/** Default time a source must stay up before its past failures are forgotten. */
export const DEFAULT_BACKOFF_RESET_AFTER_MS = 5_000;

export interface BackoffOptions {
  /** Delay ceiling of the first retry, in ms. Default 100. */
  readonly initialMs?: number;
  /** Cap of the delay ceiling, in ms. Default 10,000. */
  readonly maxMs?: number;
  /** Each retry's ceiling is the previous one times this (at least 1). Default 2. */
  readonly factor?: number;
  /**
   * The jitter source: a number in [0, 1], drawn once per retry. Default `Math.random`.
   * `() => 1` removes the jitter (every delay is its ceiling).
   */
  readonly random?: () => number;
}

/** A retry about to wait: the `attempt`-th in a row (from 1), its delay, and the error that caused it. */
export interface RetryScheduled {
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
}

export interface RetryWithBackoffOptions extends BackoffOptions {
  /**
   * Once the source has emitted and then stayed without error this long (ms), the attempt count
   * starts again from 1: a connection that was stable for a while is re-dialled fast. Default 5,000.
   */
  readonly resetAfterMs?: number;
  /** Retries in a row before giving up: the next error goes through. Default `Infinity`. */
  readonly maxAttempts?: number;
  /**
   * Whether an error is worth a retry. Default: every error but `HubStoppedError` and
   * `InvalidOptionError`, which no retry can mend.
   */
  readonly shouldRetry?: (error: unknown) => boolean;
  /** Told of every retry before its wait starts (for a state machine, a log, a counter). */
  readonly onRetry?: (retry: RetryScheduled) => void;
  /** Scheduler of the waits and of the stable period. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/** Options with defaults applied and values checked. */
interface Settings {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly random: () => number;
  readonly resetAfterMs: number;
  readonly maxAttempts: number;
  readonly shouldRetry: (error: unknown) => boolean;
  readonly onRetry: ((retry: RetryScheduled) => void) | undefined;
  readonly scheduler: SchedulerLike;
}

/**
 * The delay before the `attempt`-th retry in a row (from 1), with full jitter: a whole number of ms
 * drawn uniformly below `min(maxMs, initialMs * factor ** (attempt - 1))`.
 *
 * @example
 * backoffDelay(3, { initialMs: 100, random: () => 0.5 }); // 200: half of the ceiling 400
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  if (!Number.isSafeInteger(attempt) || attempt < 1) throw new InvalidOptionError('attempt', attempt, 'a whole number >= 1');
  return delayOf(attempt, settingsOf(options));
}

/**
 * Resubscribes to the source when it errors, after `backoffDelay(attempt)`, up to `maxAttempts`
 * retries in a row; then the error goes through. The count starts again once the source has been
 * up (emitted, then no error) for `resetAfterMs`. Options are checked when the operator is made.
 *
 * @example
 * client.connect('127.0.0.1', 5000).pipe(retryWithBackoff({ initialMs: 200, maxMs: 5000, maxAttempts: 10 }))
 */
export function retryWithBackoff<T>(options: RetryWithBackoffOptions = {}): MonoTypeOperatorFunction<T> {
  const settings = settingsOf(options);
  return (source) =>
    defer(() => {
      // Per subscriber: two subscriptions to the same chain back off independently.
      let attempt = 0;
      let stable: Subscription | undefined;
      return source.pipe(
        tap({
          next: () => {
            stable ??= settings.scheduler.schedule(() => {
              attempt = 0;
            }, settings.resetAfterMs);
          },
          // Runs as each subscription ends (in the same turn as its error), so a pending reset
          // never fires during the backoff that follows.
          finalize: () => {
            stable?.unsubscribe();
            stable = undefined;
          },
        }),
        retry({
          delay: (error: unknown) => {
            if (attempt >= settings.maxAttempts || !settings.shouldRetry(error)) return throwError(() => error);
            attempt += 1;
            const delayMs = delayOf(attempt, settings);
            settings.onRetry?.({ attempt, delayMs, error });
            return timer(delayMs, settings.scheduler);
          },
        }),
      );
    });
}

/**
 * Keeps a connection up: each dial's Messenger is emitted, and when it closes the dial is made again
 * with `retryWithBackoff`. The closed connection's error is a `ConnectionLostError` (code
 * `ERR_CONNECTION_LOST`) carrying its close reason. Never completes by itself; it errors when it
 * gives up (`maxAttempts`, or an error `shouldRetry` refuses, such as `HubStoppedError`).
 * Unsubscribing closes the current connection.
 *
 * @example
 * client.connect('127.0.0.1', 5000).pipe(reconnect({ maxMs: 5000 }))
 *   .subscribe((messenger) => void messenger.send({ ID: 'me' })); // on every (re)connect
 */
export function reconnect(options: RetryWithBackoffOptions = {}): MonoTypeOperatorFunction<Messenger> {
  const retrying = retryWithBackoff<Messenger>(options); // checks the options now
  return (connect$) => connect$.pipe(switchMap(holdOpen), retrying);
}

/** The Messenger, then an error when it closes; unsubscribing closes it. */
function holdOpen(messenger: Messenger): Observable<Messenger> {
  return new Observable<Messenger>((subscriber) => {
    subscriber.next(messenger);
    const closing = messenger.closed$.subscribe((reason) => subscriber.error(new ConnectionLostError(messenger.id, reason)));
    return () => {
      closing.unsubscribe();
      messenger.close();
    };
  });
}

/** Errors no retry can mend. */
export function isPermanentFailure(error: unknown): boolean {
  return error instanceof HubStoppedError || error instanceof InvalidOptionError;
}

function delayOf(attempt: number, s: Settings): number {
  const ceiling = Math.min(s.maxMs, s.initialMs * s.factor ** (attempt - 1));
  const draw = Math.min(1, Math.max(0, s.random()));
  return Math.floor(draw * ceiling);
}

function settingsOf(options: RetryWithBackoffOptions): Settings {
  const initialMs = msOption('initialMs', options.initialMs, DEFAULT_BACKOFF_INITIAL_MS);
  const maxMs = msOption('maxMs', options.maxMs, DEFAULT_BACKOFF_MAX_MS);
  if (maxMs < initialMs) throw new InvalidOptionError('maxMs', maxMs, `at least initialMs (${initialMs})`);
  const factor = options.factor ?? DEFAULT_BACKOFF_FACTOR;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1) throw new InvalidOptionError('factor', factor, 'a finite number >= 1');
  const maxAttempts = options.maxAttempts ?? Infinity;
  if (maxAttempts !== Infinity && (!Number.isSafeInteger(maxAttempts) || maxAttempts < 0)) {
    throw new InvalidOptionError('maxAttempts', maxAttempts, 'a whole number >= 0 or Infinity');
  }
  for (const name of ['random', 'shouldRetry', 'onRetry'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') throw new InvalidOptionError(name, options[name], 'a function');
  }
  return {
    initialMs,
    maxMs,
    factor,
    random: options.random ?? Math.random,
    resetAfterMs: msOption('resetAfterMs', options.resetAfterMs, DEFAULT_BACKOFF_RESET_AFTER_MS),
    maxAttempts,
    shouldRetry: options.shouldRetry ?? ((error) => !isPermanentFailure(error)),
    onRetry: options.onRetry,
    scheduler: options.scheduler ?? asyncScheduler,
  };
}

function msOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidOptionError(name, value, 'a whole number of milliseconds >= 0');
  return value;
}
