/**
 * Marble-test helpers for the hub's operators: a `TestScheduler` that reports through ava, fake
 * targets whose writes settle (or fail) after a virtual delay or refuse synchronously, and plain
 * forms of outcomes and closes for `deepEqual`.
 */
import type { ExecutionContext } from 'ava';
import { Subject, type Observable, type SchedulerLike } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { CloseReasonKind } from '../../lib/connection/close-reason.js';
import type { Target, WriteCallback } from '../../lib/connection/messenger.js';
import { ConnectionClosedError, QueueFullError, SendFailedError, type RxTcpHubError } from '../../lib/errors.js';
import type { SendOutcome } from '../../lib/hub/operators.js';
import type { Frame } from '../../lib/protocol/message.js';

/** A `TestScheduler` whose assertion is ava's `deepEqual`. */
export const testScheduler = (t: ExecutionContext): TestScheduler =>
  new TestScheduler((actual, expected) => t.deepEqual(actual, expected));

/** How a fake target answers a write. */
export type Behaviour =
  /** The frame is handed over after this many virtual frames. */
  | { readonly settleAfter: number }
  /** The write fails (`SendFailedError`, as a socket error) after this many virtual frames. */
  | { readonly failAfter: number }
  /** `write` throws at once, as a Messenger does when its queue is full or it is closed. */
  | { readonly refuse: 'queue-full' | 'closed' }
  /** `write` throws something that is not a library error. */
  | { readonly throws: unknown };

/** A target's close, as plain values. */
export interface PlainClose {
  readonly id: string;
  readonly reason: CloseReasonKind | undefined;
  readonly code: string | undefined;
}

/** A target for the operators that records every frame written to it and reports its closes. */
export class FakeTarget implements Target {
  /** Every frame passed to `write`, refused ones included, in order. */
  readonly frames: Frame[] = [];

  constructor(
    readonly id: string,
    private readonly behaviour: Behaviour,
    private readonly scheduler: SchedulerLike,
    private readonly closes: Subject<PlainClose>,
  ) {}

  write(frame: Frame, done?: WriteCallback): void {
    this.frames.push(frame);
    const b = this.behaviour;
    if ('refuse' in b) {
      throw b.refuse === 'queue-full' ? new QueueFullError(this.id, 100, 10, 100) : new ConnectionClosedError(this.id);
    }
    if ('throws' in b) throw b.throws;
    if ('settleAfter' in b) this.scheduler.schedule(() => done?.(), b.settleAfter);
    else this.scheduler.schedule(() => done?.(new SendFailedError(this.id, new Error('write EPIPE'))), b.failAfter);
  }

  close(reason?: CloseReasonKind, error?: Error): void {
    this.closes.next({ id: this.id, reason, code: (error as RxTcpHubError | undefined)?.code });
  }
}

/**
 * Makes fake targets that share one stream of closes, for `expectObservable`.
 * @example
 * const { target, closes$ } = fakeTargets(scheduler);
 * const a = target('a', { settleAfter: 3 });
 */
export function fakeTargets(scheduler: SchedulerLike): {
  target: (id: string, behaviour: Behaviour) => FakeTarget;
  closes$: Observable<PlainClose>;
} {
  const closes = new Subject<PlainClose>();
  return {
    target: (id, behaviour) => new FakeTarget(id, behaviour, scheduler, closes),
    closes$: closes.asObservable(),
  };
}

/** An outcome as plain values: `{ id, ok }`, plus the error's `code` when it failed. */
export type PlainOutcome = { readonly id: string; readonly ok: true } | { readonly id: string; readonly ok: false; readonly code: string };

export function plainOutcome(outcome: SendOutcome): PlainOutcome {
  return outcome.ok ? { id: outcome.target.id, ok: true } : { id: outcome.target.id, ok: false, code: outcome.error.code };
}
