/**
 * The hub's sending is made of these operators: `broadcast`, `multicast` and `send` are each one
 * chain of them, and users compose their own from the same pieces (see `relayToOthers`).
 * They are pure over their inputs, so a `TestScheduler` can drive them with fake targets.
 */
import { EMPTY, Observable, filter, map, mergeMap, tap, type MonoTypeOperatorFunction, type OperatorFunction } from 'rxjs';
import { FrameEncodeError, QueueFullError, RxTcpHubError, SendFailedError } from '../errors.js';
import { CloseReasonKind } from '../connection/close-reason.js';
import type { Target, WriteSink } from '../connection/messenger.js';
import { encodeFrame } from '../protocol/encode.js';
import type { Frame, HeaderInput, Message } from '../protocol/message.js';

/** One message to send to a set of targets. */
export interface Outgoing<T extends Target = Target> {
  readonly targets: readonly T[];
  readonly header: HeaderInput;
  readonly content?: Uint8Array | undefined;
  /** The frame already encoded from `header` and `content`, when the caller has it. */
  readonly frame?: Frame | undefined;
}

/** What became of one message for one target. */
export type SendOutcome<T extends Target = Target> =
  | { readonly target: T; readonly ok: true }
  | { readonly target: T; readonly ok: false; readonly error: RxTcpHubError };

/** A received message with the connection it came from (the elements of `incoming$`). */
export interface Received<T extends Target = Target> extends Message {
  readonly from: T;
}

/**
 * Writes one encoded frame to one target: one outcome, then completes. The outcome arrives when
 * the frame is handed to the kernel, or at once when the target refuses it (closed, queue full).
 */
export function writeFrame<T extends Target>(target: T, frame: Frame): Observable<SendOutcome<T>> {
  return writeEach([target], frame);
}

/**
 * Encodes each outgoing message once and writes it to every one of its targets, emitting one
 * outcome per target as each settles. A message that cannot be encoded gives a failed outcome
 * (`FrameEncodeError`) for each target, and the chain goes on.
 *
 * @example
 * of({ targets: hub.messengers, header: { info: 'hi' } }).pipe(sendEach(), closeOnFailure())
 */
export function sendEach<T extends Target>(): OperatorFunction<Outgoing<T>, SendOutcome<T>> {
  return mergeMap((outgoing) => {
    if (outgoing.targets.length === 0) return EMPTY;
    let frame: Frame;
    try {
      frame = outgoing.frame ?? encodeFrame(outgoing.header, outgoing.content);
    } catch (error) {
      // Anything but a FrameEncodeError is a bug, not a bad message: let it error the chain.
      if (!(error instanceof FrameEncodeError)) throw error;
      return outgoing.targets.map((target): SendOutcome<T> => ({ target, ok: false, error }));
    }
    return writeEach(outgoing.targets, frame);
  });
}

/**
 * Writes one frame to every target: one outcome per target as each settles (the refusals at
 * once, in target order), then completes. One sink for all, no Observable per target.
 */
function writeEach<T extends Target>(targets: readonly T[], frame: Frame): Observable<SendOutcome<T>> {
  return new Observable<SendOutcome<T>>((subscriber) => {
    let pending = targets.length;
    const sink: WriteSink = {
      settle(index, error) {
        subscriber.next(outcomeOf(targets[index]!, error));
        if (--pending === 0) subscriber.complete();
      },
    };
    for (let i = 0; i < targets.length; i++) writeTo(targets[i]!, frame, sink, i);
  });
}

/**
 * Writes one encoded frame to every target and resolves with one outcome per target, in the
 * order of `targets`, once all have settled. With `closeFailed`, each target whose write failed
 * is closed as it fails, as `closeOnFailure` does. The hub's `send`, `broadcast` and `multicast`
 * are this: one frame and one sink shared by every target, a counter of those still pending.
 *
 * @example
 * const outcomes = await writeAll(hub.messengers, encodeFrame({ info: 'hi' }), true);
 */
export function writeAll<T extends Target>(targets: readonly T[], frame: Frame, closeFailed: boolean): Promise<SendOutcome<T>[]> {
  if (targets.length === 0) return Promise.resolve([]);
  return new Promise((resolve) => {
    const sink = new Settlements(targets, closeFailed, resolve);
    for (let i = 0; i < targets.length; i++) writeTo(targets[i]!, frame, sink, i);
  });
}

/** The outcomes of one `writeAll`: a count of the writes still pending, and the errors so far. */
class Settlements<T extends Target> implements WriteSink {
  private pending: number;
  private errors: Map<number, RxTcpHubError> | undefined;

  constructor(
    private readonly targets: readonly T[],
    private readonly closeFailed: boolean,
    private readonly resolve: (outcomes: SendOutcome<T>[]) => void,
  ) {
    this.pending = targets.length;
  }

  settle(index: number, error?: RxTcpHubError): void {
    if (error) {
      (this.errors ??= new Map()).set(index, error);
      if (this.closeFailed) closeFailed(this.targets[index]!, error);
    }
    if (--this.pending > 0) return;
    const errors = this.errors;
    this.resolve(this.targets.map((target, i) => outcomeOf(target, errors?.get(i))));
  }
}

/** Writes through `queue` when the target has it, else through `write` and a callback. */
function writeTo<T extends Target>(target: T, frame: Frame, sink: WriteSink, index: number): void {
  try {
    if (target.queue) target.queue(frame, sink, index);
    else target.write(frame, (error) => sink.settle(index, error));
  } catch (error) {
    sink.settle(index, asHubError(error, target.id));
  }
}

function outcomeOf<T extends Target>(target: T, error: RxTcpHubError | undefined): SendOutcome<T> {
  return error ? { target, ok: false, error } : { target, ok: true };
}

/**
 * Closes every target whose send failed, as the seed's broadcast did: `slow-consumer` when its
 * queue was full, `send-failed` otherwise. Encoding failures are the sender's, and close nothing.
 */
export function closeOnFailure<T extends Target>(): MonoTypeOperatorFunction<SendOutcome<T>> {
  return tap((outcome) => {
    if (!outcome.ok) closeFailed(outcome.target, outcome.error);
  });
}

function closeFailed(target: Target, error: RxTcpHubError): void {
  if (error instanceof FrameEncodeError) return;
  target.close(error instanceof QueueFullError ? CloseReasonKind.SlowConsumer : CloseReasonKind.SendFailed, error);
}

/** Keeps only the failed outcomes. */
export function failures<T extends Target>(): OperatorFunction<SendOutcome<T>, SendOutcome<T> & { ok: false }> {
  return filter((outcome): outcome is SendOutcome<T> & { ok: false } => !outcome.ok);
}

/**
 * Turns each received message into an outgoing one to every live target but its sender: the chat
 * relay. `targets` is read for each message, so connections that come later are included.
 *
 * @example
 * hub.incoming$.pipe(relayToOthers(() => hub.messengers), sendEach(), closeOnFailure()).subscribe();
 */
export function relayToOthers<T extends Target>(
  targets: () => readonly T[],
  rewrite: (received: Received<T>) => Pick<Outgoing, 'header' | 'content'> = (r) => r,
): OperatorFunction<Received<T>, Outgoing<T>> {
  return map((received) => {
    const { header, content } = rewrite(received);
    return { targets: targets().filter((t) => t !== received.from), header, content };
  });
}

function asHubError(error: unknown, id: string): RxTcpHubError {
  return error instanceof RxTcpHubError ? error : new SendFailedError(id, error);
}
