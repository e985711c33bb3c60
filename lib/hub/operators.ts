/**
 * The hub's sending is made of these operators: `broadcast`, `multicast` and `send` are each one
 * chain of them, and users compose their own from the same pieces (see `relayToOthers`).
 * They are pure over their inputs, so a `TestScheduler` can drive them with fake targets.
 */
import { EMPTY, Observable, filter, map, mergeMap, tap, type MonoTypeOperatorFunction, type OperatorFunction } from 'rxjs';
import { FrameEncodeError, HubQueueFullError, QueueFullError, RxTcpHubError, SendFailedError } from '../errors.js';
import { CloseReasonKind } from '../connection/close-reason.js';
import type { Target } from '../connection/messenger.js';
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
 * Writes one encoded frame to one target: one outcome, then completes. The outcome says whether
 * the target accepted the frame into its queue or refused it (closed, queue full), at once: it
 * never waits for the frame to reach the kernel (`Messenger.flushed` does that).
 */
export function writeFrame<T extends Target>(target: T, frame: Frame): Observable<SendOutcome<T>> {
  return writeEach([target], frame);
}

/**
 * Encodes each outgoing message once and writes it to every one of its targets, emitting one
 * outcome per target, in target order, as each accepts or refuses it. A message that cannot be
 * encoded gives a failed outcome (`FrameEncodeError`) for each target, and the chain goes on.
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

/** Writes one frame to every target, on subscribe: one outcome per target, in order, then completes. */
function writeEach<T extends Target>(targets: readonly T[], frame: Frame): Observable<SendOutcome<T>> {
  return new Observable<SendOutcome<T>>((subscriber) => {
    for (let i = 0; i < targets.length && !subscriber.closed; i++) subscriber.next(writeTo(targets[i]!, frame));
    subscriber.complete();
  });
}

/**
 * Writes one encoded frame to every target and resolves with one outcome per target, in the
 * order of `targets`, as soon as each has accepted or refused it: one stalled target delays no
 * other. With `closeFailed`, each target that refused is closed, as `closeOnFailure` does. The
 * hub's `send`, `broadcast` and `multicast` are this: one frame shared by every target.
 *
 * @example
 * const outcomes = await writeAll(hub.messengers, encodeFrame({ info: 'hi' }), true);
 */
export function writeAll<T extends Target>(targets: readonly T[], frame: Frame, closeFailed: boolean): Promise<SendOutcome<T>[]> {
  const outcomes = new Array<SendOutcome<T>>(targets.length);
  for (let i = 0; i < targets.length; i++) {
    const outcome = writeTo(targets[i]!, frame);
    if (closeFailed && !outcome.ok) closeFailedTarget(outcome.target, outcome.error);
    outcomes[i] = outcome;
  }
  return Promise.resolve(outcomes);
}

/** Queues the frame on one target: accepted, or refused with a typed error. */
function writeTo<T extends Target>(target: T, frame: Frame): SendOutcome<T> {
  try {
    target.write(frame);
    return { target, ok: true };
  } catch (error) {
    return { target, ok: false, error: asHubError(error, target.id) };
  }
}

/**
 * Closes every target whose send failed, as the seed's broadcast did: `slow-consumer` when its
 * queue was full, `send-failed` otherwise. Encoding failures are the sender's, and close nothing.
 * (With the default `onQueueFull: 'close'`, a full queue has closed its connection already.)
 */
export function closeOnFailure<T extends Target>(): MonoTypeOperatorFunction<SendOutcome<T>> {
  return tap((outcome) => {
    if (!outcome.ok) closeFailedTarget(outcome.target, outcome.error);
  });
}

function closeFailedTarget(target: Target, error: RxTcpHubError): void {
  // The sender's faults close nothing: a message that cannot be encoded, or one larger than the
  // hub's whole queue budget. A target the budget shed is closed already.
  if (error instanceof FrameEncodeError || error instanceof HubQueueFullError) return;
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
