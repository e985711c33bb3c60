/**
 * Liveness of one connection: the heartbeat and the deadlines (idle, frame, first message), on one
 * scheduler so that marble tests drive them in virtual time.
 *
 * Nothing here runs per message. The connection records the time of its latest activity in an
 * `Activity` (plain field writes), and one timer per connection wakes at the earliest instant a
 * deadline could pass: it then reads the activity, and either acts or sleeps until the new earliest
 * instant. A deadline pushed back by traffic costs nothing until its old instant comes.
 */
import { Observable, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';
import type { Header, HeaderInput } from '../protocol/message.js';
import { CloseReasonKind } from './close-reason.js';

/**
 * What a connection did, and when (scheduler time). The connection writes it; the liveness
 * watchdog reads it when it wakes.
 */
export class Activity {
  /** Time of the latest bytes received; -1 before any. */
  receivedAt = -1;
  /** Time of the latest frame queued for sending; -1 before any. */
  sentAt = -1;
  /** Time the first byte of the unfinished frame arrived; -1 when the input is at a frame boundary. */
  frameStartedAt = -1;
  /** True once a whole message (a connection check counts) has arrived. */
  spoken = false;
  /** Set by the watchdog while it runs, to arm the frame deadline when a frame starts. */
  onFrameStart: ((now: number) => void) | undefined = undefined;

  /**
   * Records received bytes.
   * @param completed whether they finished at least one frame
   * @param atBoundary whether the input now ends exactly on a frame boundary
   */
  received(now: number, completed: boolean, atBoundary: boolean): void {
    this.receivedAt = now;
    if (completed) this.spoken = true;
    if (atBoundary) {
      this.frameStartedAt = -1;
    } else if (this.frameStartedAt < 0 || completed) {
      // A frame began in these bytes: the first one, or the one after a frame they finished.
      this.frameStartedAt = now;
      this.onFrameStart?.(now);
    }
  }

  /** Records a frame queued for sending. */
  sent(now: number): void {
    this.sentAt = now;
  }
}

/** The timing options of `liveness`; 0 (or absent) turns each off. */
export interface LivenessOptions {
  /** Emit `heartbeat` whenever nothing was sent for this long. */
  readonly heartbeatMs?: number;
  /** Emit `idle-timeout` when nothing was received for this long. */
  readonly idleTimeoutMs?: number;
  /** Emit `frame-timeout` when a frame is not finished this long after its first byte. */
  readonly frameTimeoutMs?: number;
  /** Emit `first-message-timeout` when no whole message arrived this long after the start. */
  readonly firstMessageTimeoutMs?: number;
  /** Emit one `heartbeat` this long after the start if nothing was sent by then. */
  readonly connectCheckMs?: number;
}

/** A deadline that passed: the connection closes with it as its reason. */
export type LivenessTimeout =
  | typeof CloseReasonKind.IdleTimeout
  | typeof CloseReasonKind.FrameTimeout
  | typeof CloseReasonKind.FirstMessageTimeout;

/** What the watchdog asks of its connection: send a connection check, or close for a deadline. */
export type LivenessSignal = 'heartbeat' | LivenessTimeout;

/**
 * The watchdog of one connection. Emits `heartbeat` each time the connection should send a
 * connection check, and at most one timeout, after which it completes. The clock starts on
 * subscribe; before the first received byte, the idle deadline counts from there.
 *
 * @param activity what the connection did, updated by it as it goes
 * @param options the deadlines and the heartbeat period, in ms; 0 or absent turns one off
 * @param scheduler the clock and timers: `asyncScheduler` for real, a `TestScheduler` in tests
 *
 * @example
 * liveness(activity, { heartbeatMs: 5000, idleTimeoutMs: 15000 }, asyncScheduler)
 *   .subscribe((signal) => (signal === 'heartbeat' ? sendCheck() : close(signal)));
 */
export function liveness(activity: Activity, options: LivenessOptions, scheduler: SchedulerLike): Observable<LivenessSignal> {
  const heartbeatMs = options.heartbeatMs ?? 0;
  const idleMs = options.idleTimeoutMs ?? 0;
  const frameMs = options.frameTimeoutMs ?? 0;
  const firstMs = options.firstMessageTimeoutMs ?? 0;
  const connectCheckMs = options.connectCheckMs ?? 0;

  return new Observable<LivenessSignal>((subscriber) => {
    const startedAt = scheduler.now();
    let lastBeat = startedAt;
    let connectCheckDue = connectCheckMs > 0;
    let timer: Subscription | undefined;
    let wakeAt = Infinity;

    const expired = (now: number): LivenessTimeout | undefined => {
      if (frameMs > 0 && activity.frameStartedAt >= 0 && now >= activity.frameStartedAt + frameMs) return CloseReasonKind.FrameTimeout;
      if (firstMs > 0 && !activity.spoken && now >= startedAt + firstMs) return CloseReasonKind.FirstMessageTimeout;
      if (idleMs > 0 && now >= Math.max(activity.receivedAt, startedAt) + idleMs) return CloseReasonKind.IdleTimeout;
      return undefined;
    };

    const nextWake = (): number => {
      let at = Infinity;
      if (idleMs > 0) at = Math.min(at, Math.max(activity.receivedAt, startedAt) + idleMs);
      if (frameMs > 0 && activity.frameStartedAt >= 0) at = Math.min(at, activity.frameStartedAt + frameMs);
      if (firstMs > 0 && !activity.spoken) at = Math.min(at, startedAt + firstMs);
      if (heartbeatMs > 0) at = Math.min(at, Math.max(activity.sentAt, lastBeat) + heartbeatMs);
      if (connectCheckDue) at = Math.min(at, startedAt + connectCheckMs);
      return at;
    };

    const beat = (now: number): void => {
      lastBeat = now;
      subscriber.next('heartbeat');
    };

    function wake(this: SchedulerAction<void>): void {
      const now = scheduler.now();
      const timeout = expired(now);
      if (timeout !== undefined) {
        wakeAt = Infinity;
        subscriber.next(timeout);
        subscriber.complete();
        return;
      }
      if (connectCheckDue && now >= startedAt + connectCheckMs) {
        connectCheckDue = false;
        if (activity.sentAt < 0) beat(now);
      }
      if (heartbeatMs > 0 && now >= Math.max(activity.sentAt, lastBeat) + heartbeatMs) beat(now);
      if (subscriber.closed) return;
      wakeAt = nextWake();
      // Rescheduled from inside, with an unchanged delay, the timer keeps its interval.
      timer = wakeAt === Infinity ? undefined : this.schedule(undefined, Math.max(0, wakeAt - now));
    }

    const arm = (at: number, now: number): void => {
      timer?.unsubscribe();
      wakeAt = at;
      timer = at === Infinity ? undefined : scheduler.schedule(wake, Math.max(0, at - now));
    };

    if (frameMs > 0) {
      // The one event that can bring a deadline nearer: a frame starting while the timer sleeps longer.
      activity.onFrameStart = (now) => {
        if (now + frameMs < wakeAt) arm(now + frameMs, now);
      };
    }
    arm(nextWake(), startedAt);
    return () => {
      timer?.unsubscribe();
      if (activity.onFrameStart !== undefined) activity.onFrameStart = undefined;
    };
  });
}

/** A ping or pong sequence number as it may travel: decimal, at most 15 digits (a safe integer). */
const SEQUENCE = /^[0-9]{1,15}$/;

/** The heartbeat: the seed's connection check, with a sequence number that rx-tcp-hub peers echo. */
export function pingHeader(sequence: number): HeaderInput {
  return { TP: 'Check', ping: sequence };
}

/** The answer to a ping, echoing its sequence number. */
export function pongHeader(sequence: string): HeaderInput {
  return { TP: 'Check', pong: sequence };
}

/** The sequence of a connection check's ping, when it has a usable one. */
export function pingOf(header: Header): string | undefined {
  const ping = header['ping'];
  return ping !== undefined && SEQUENCE.test(ping) ? ping : undefined;
}

/** The sequence number a connection check's pong echoes, when it has a usable one. */
export function pongOf(header: Header): number | undefined {
  const pong = header['pong'];
  return pong !== undefined && SEQUENCE.test(pong) ? Number(pong) : undefined;
}
