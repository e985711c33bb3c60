/**
 * The authentication gate: a connection joins the hub only once its first message has passed a
 * user-given check within a deadline. An operator over connections, so that the hub's gate is
 * one chain and a marble test can drive it with fake connections.
 */
import {
  EMPTY,
  Observable,
  asyncScheduler,
  catchError,
  from,
  mergeMap,
  of,
  take,
  takeUntil,
  throwError,
  timeout,
  type MonoTypeOperatorFunction,
  type SchedulerLike,
} from 'rxjs';
import { AuthFailedError, AuthTimeoutError } from '../errors.js';
import { CloseReasonKind } from '../connection/close-reason.js';
import type { Message } from '../protocol/message.js';

/**
 * Judges a connection by its first message: `true` lets it in; `false`, a throw or a rejection
 * closes it as `auth-failed`. May answer at once, with a promise, or with an observable.
 */
export type Authenticate<T = unknown> = (message: Message, connection: T) => boolean | PromiseLike<boolean> | Observable<boolean>;

/** What the gate needs of a connection; `Messenger` is the real one. */
export interface Authenticatable {
  readonly id: string;
  readonly messages$: Observable<Message>;
  readonly closed$: Observable<unknown>;
  close(reason?: CloseReasonKind, error?: Error): void;
}

/**
 * Lets through each connection whose first message passes `check` within `timeoutMs` of its
 * arrival here; closes the others, as `auth-failed` (`AuthFailedError`, with what the check threw
 * as `cause`) or `auth-timeout` (`AuthTimeoutError`). The first message is consumed: it never
 * reaches a later subscriber of `messages$`; the messages after it wait in the connection's inbox.
 *
 * @param check the judge of the first message
 * @param timeoutMs deadline for the first message and its verdict together
 * @param scheduler clock of the deadline; default `asyncScheduler`
 * @example
 * connections$.pipe(authenticate(({ header }) => header['token'] === secret, 5000)).subscribe(admit);
 */
export function authenticate<T extends Authenticatable>(
  check: Authenticate<T>,
  timeoutMs: number,
  scheduler: SchedulerLike = asyncScheduler,
): MonoTypeOperatorFunction<T> {
  return mergeMap((connection) =>
    connection.messages$.pipe(
      take(1),
      mergeMap((message) => verdict(check, message, connection)),
      take(1),
      timeout({ first: timeoutMs, scheduler, with: () => throwError(() => new AuthTimeoutError(connection.id, timeoutMs)) }),
      // A verdict that comes after the connection closed lets nothing in.
      takeUntil(connection.closed$),
      mergeMap((ok) => {
        if (ok === true) return of(connection);
        connection.close(CloseReasonKind.AuthFailed, new AuthFailedError(connection.id));
        return EMPTY;
      }),
      catchError((error: unknown) => {
        if (error instanceof AuthTimeoutError) connection.close(CloseReasonKind.AuthTimeout, error);
        else connection.close(CloseReasonKind.AuthFailed, new AuthFailedError(connection.id, error));
        return EMPTY;
      }),
    ),
  );
}

function verdict<T>(check: Authenticate<T>, message: Message, connection: T): Observable<boolean> {
  let answer: ReturnType<Authenticate<T>>;
  try {
    answer = check(message, connection);
  } catch (error) {
    return throwError(() => error);
  }
  return typeof answer === 'boolean' ? of(answer) : from(answer);
}
