/**
 * The pacing rule of every fan-out (broadcast) server of the benchmark that can read its
 * connections' unsent bytes (reference (a) and rx-tcp-hub), so that they compare alike; see the
 * README's "Fan-out and slow consumers". After putting one frame on every connection:
 *
 * - a connection is *blocked* when it holds `FAN_OUT_WINDOW_BYTES` or more unsent (reference (a):
 *   `write()` returned false, i.e. `socket.writableLength` reached Node's 16 KiB high-water mark;
 *   rx-tcp-hub: `messenger.queuedBytes`);
 * - if any connection is blocked, the server waits until every blocked one has flushed (its unsent
 *   bytes all handed to the kernel: 'drain'; `messenger.flushed()`), but no longer than
 *   `STALL_GRACE_MS` after the server's own flush of the burst was done;
 * - a connection still not flushed at the grace is *slow*: it is no longer waited on until it does
 *   flush. What else a server does with a slow connection is its own idiom: reference (a) skips it
 *   (writes it nothing, so its memory stays bounded), rx-tcp-hub queues to it as to any other and
 *   leaves it to its limits (`writeTimeoutMs`, `maxQueueBytes`, `maxQueuedBytesTotal`).
 *
 * With every peer reading, no wait reaches the grace (each round's figures say how close any came):
 * the rule is then exactly "keep no connection over 16 KiB unsent".
 */

/** Node's default `writableHighWaterMark` for sockets: the budget reference (a) works with. */
export const FAN_OUT_WINDOW_BYTES = 16 * 1024;

/**
 * How long a wait on blocked connections lasts at most, counted from the end of the server's own
 * flush: a broadcast burst leaves every connection corked with a window's worth, and handing that
 * to the kernel (the uncorks, one `writev` per connection) takes the server up to seconds of CPU
 * at 10,000 connections, during which no timer can run. With every peer reading, every blocked
 * connection has drained by then (`lateSettles` counts those that had not).
 */
export const STALL_GRACE_MS = 1000;

/** What a pacer did over one `broadcast` request, for the report. */
export interface PaceStats {
  /** Waits on blocked connections. */
  waits: number;
  /** The longest of them, ms, the server's own flush included. */
  longestWaitMs: number;
  /** Blocked connections that flushed only after the server's flush was done (see `STALL_GRACE_MS`). */
  lateSettles: number;
  /** The longest time from the end of the server's flush to such a connection's, ms: the grace's margin. */
  longestLateMs: number;
  /** Waits cut short by the grace. */
  graceExpiries: number;
  /** Connections slow (not waited on) when the request ended. */
  slow: number;
}

const NO_STATS: PaceStats = { waits: 0, longestWaitMs: 0, lateSettles: 0, longestLateMs: 0, graceExpiries: 0, slow: 0 };

/** The rule above, over connections of type T; `flushed` resolves (or rejects) once T's unsent bytes were all handed to the kernel. */
export class FanOutPacer<T> {
  /** Connections not waited on (see above); empty unless a wait reached the grace. */
  readonly slow = new Set<T>();
  private stats: PaceStats = { ...NO_STATS };

  /**
   * @param flushed resolves (or rejects) once the target's unsent bytes were all handed to the kernel
   * @param mark told when a target becomes slow (true) or is waited on again (false), for a server
   *   that keeps its own flag rather than asking `isSlow` on every write
   */
  constructor(
    private readonly flushed: (target: T) => Promise<unknown>,
    private readonly mark?: (target: T, slow: boolean) => void,
  ) {}

  /** True when `target` is not waited on. */
  isSlow(target: T): boolean {
    return this.slow.size > 0 && this.slow.has(target);
  }

  /** Waits until every one of `blocked` has flushed, or the grace has passed; marks those left as slow. */
  wait(blocked: readonly T[]): Promise<void> {
    const stats = this.stats;
    const started = performance.now();
    stats.waits++;
    return new Promise<void>((resolve) => {
      let left = blocked.length;
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      /** When the server's own flush was over (the event loop's check phase after it); 0 before. */
      let flushedAt = 0;
      const pending = new Set<T>(blocked);
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        stats.longestWaitMs = Math.max(stats.longestWaitMs, performance.now() - started);
        resolve();
      };
      setImmediate(() => {
        if (done) return;
        flushedAt = performance.now();
        timer = setTimeout(() => {
          stats.graceExpiries++;
          for (const target of pending) {
            this.slow.add(target);
            this.mark?.(target, true);
          }
          finish();
        }, STALL_GRACE_MS);
      });
      for (const target of blocked) {
        const settled = (): void => {
          pending.delete(target);
          if (this.slow.delete(target)) this.mark?.(target, false); // flushed after all: waited on again
          if (flushedAt > 0) {
            stats.lateSettles++;
            stats.longestLateMs = Math.max(stats.longestLateMs, performance.now() - flushedAt);
          }
          if (--left === 0) finish();
        };
        this.flushed(target).then(settled, settled);
      }
    });
  }

  /** What the pacer did since the last call. */
  take(): PaceStats {
    const stats = { ...this.stats, slow: this.slow.size };
    this.stats = { ...NO_STATS };
    return stats;
  }
}

/** Content bytes of each frame `fillUntilFull` writes. */
export const FILL_CONTENT_BYTES = 256 * 1024;
/** The header of those frames. */
export const FILL_HEADER = { type: 'fill', seq: 0, from: 'server' } as const;

/**
 * Brings stalled peers to where the fan-out would take minutes to bring them: on loopback the
 * kernel takes about 4 MB for a socket whose peer does not read before `write()` holds anything,
 * and small broadcast frames would fill that only after about 90,000 broadcasts. Writes a frame of
 * `FILL_CONTENT_BYTES` to each target that holds less than a window unsent, lets the event loop
 * run (the kernel takes what it can), and goes on until every target holds a window or more unsent
 * (or 5 s have passed). The same content buffer is written every time: what stays unsent is shared.
 */
export async function fillUntilFull<T>(targets: readonly T[], write: (target: T) => number, unsent: (target: T) => number): Promise<{ filled: number; bytes: number; ms: number }> {
  const started = performance.now();
  let left = [...targets];
  let bytes = 0;
  while (left.length > 0 && performance.now() - started < 5000) {
    for (const target of left) bytes += write(target);
    await new Promise((resolve) => setTimeout(resolve, 5));
    left = left.filter((target) => unsent(target) < FAN_OUT_WINDOW_BYTES);
  }
  return { filled: targets.length - left.length, bytes, ms: Math.round(performance.now() - started) };
}
