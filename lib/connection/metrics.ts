/**
 * Traffic counters of a connection, and the sampling that turns any `stats()` into a stream.
 * The counters are plain numbers bumped in the read and write paths: no allocation per message,
 * no event; a snapshot is built only when someone asks for one.
 */
import { Observable, concat, defer, interval, map, of, startWith, takeUntil, type SchedulerLike } from 'rxjs';
import { InvalidOptionError } from '../errors.js';
import { MAX_DURATION_MS } from './options.js';

/** Default period of `metrics$`: one snapshot a second. */
export const DEFAULT_METRICS_INTERVAL_MS = 1000;

/** What crossed a connection, counted in frames and bytes; checks (heartbeats) included. */
export class TrafficCounters {
  bytesIn = 0;
  bytesOut = 0;
  messagesIn = 0;
  messagesOut = 0;
}

/** A snapshot of one connection's traffic (`messenger.stats()`). */
export interface ConnectionStats {
  readonly id: string;
  /** Bytes received. */
  readonly bytesIn: number;
  /** Bytes of frames accepted for sending; `bytesOut - queuedBytes` have been handed to the kernel. */
  readonly bytesOut: number;
  /** Frames received, connection checks included. */
  readonly messagesIn: number;
  /** Frames accepted for sending, connection checks included. */
  readonly messagesOut: number;
  /** Bytes accepted for sending and not yet handed to the kernel. */
  readonly queuedBytes: number;
  /** The latest round-trip time measured by the heartbeat, in ms; undefined before any. */
  readonly rtt: number | undefined;
  /** Whether the connection has closed. */
  readonly closed: boolean;
}

/**
 * A snapshot at once, then one every `periodMs` on the scheduler, and a last one when `end$`
 * emits; then completes. Lazy: the timer exists only while subscribed.
 *
 * @param stats makes one snapshot
 * @param periodMs time between snapshots
 * @param end$ when to send the last snapshot and complete (must replay to late subscribers, like `closed$`)
 * @example
 * sampleStats(() => messenger.stats(), 500, asyncScheduler, messenger.closed$).subscribe(console.log);
 */
export function sampleStats<S>(stats: () => S, periodMs: number, scheduler: SchedulerLike, end$: Observable<unknown>): Observable<S> {
  if (!Number.isSafeInteger(periodMs) || periodMs < 1 || periodMs > MAX_DURATION_MS) {
    throw new InvalidOptionError('periodMs', periodMs, `a whole number of milliseconds from 1 to ${MAX_DURATION_MS}`);
  }
  return concat(
    interval(periodMs, scheduler).pipe(startWith(0), takeUntil(end$), map(stats)),
    defer(() => of(stats())),
  );
}
