/**
 * Backpressure for senders whose API reports completion by promise or callback (rx-tcp-hub's
 * `send` and `broadcast`, ws's `send` callback), made to match what reference (a) gets from
 * `write()` and 'drain' with Node's default buffer: at most `WINDOW_BYTES` per connection in flight
 * (at least one message); when the window is full, the sender waits until all of it has settled.
 */

/** Node's default `writableHighWaterMark` for sockets: the budget reference (a) works with. */
export const WINDOW_BYTES = 16 * 1024;

/** The window, in messages, for messages of `bytes` each on one connection. */
export function windowFor(bytes: number): number {
  return Math.max(1, Math.floor(WINDOW_BYTES / Math.max(1, bytes)));
}

export class SendWindow {
  private inflight = 0;
  private wake: (() => void) | undefined;
  errors = 0;
  firstError: unknown;

  constructor(readonly size: number) {}

  get full(): boolean {
    return this.inflight >= this.size;
  }

  /** Counts one send that settles through `settle` (a callback). */
  open(): void {
    this.inflight++;
  }

  /** A send's completion callback: no argument (or null) for success. */
  readonly settle = (error?: unknown): void => {
    this.inflight--;
    if (error !== undefined && error !== null) {
      this.errors++;
      this.firstError ??= error;
    }
    if (this.inflight === 0 && this.wake) {
      const wake = this.wake;
      this.wake = undefined;
      wake();
    }
  };

  private readonly failed = (error: unknown): void => this.settle(error ?? new Error('send failed'));
  private readonly succeeded = (): void => this.settle();

  /** Counts a send that settles as a promise. */
  track(sent: Promise<unknown>): void {
    this.inflight++;
    sent.then(this.succeeded, this.failed);
  }

  /** Resolves when nothing is in flight. */
  empty(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => (this.wake = resolve));
  }
}
