/**
 * Liveness of one connection: the heartbeat and the deadlines (idle, frame, first message, write),
 * on one scheduler so that marble tests drive them in virtual time.
 *
 * Nothing here runs per message. The connection records the time of its latest activity in an
 * `Activity` (plain field writes), and one timer per connection wakes at the earliest instant a
 * deadline could pass: it then reads the activity, and either acts or sleeps until the new earliest
 * instant. A deadline pushed back by traffic costs nothing until its old instant comes.
 */
import { Observable, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';
import type { Header, HeaderInput } from '../protocol/message.js';
import { CloseReasonKind } from './close-reason.js';

/** What the write deadline reads of a connection's outbound queue when it wakes. */
export interface WriteProgress {
  /** Bytes accepted for sending and not yet handed to the kernel. */
  readonly queuedBytes: number;
  /** Bytes handed to the kernel since the connection opened: it grows whenever the queue moves. */
  readonly handedBytes: number;
}

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
  onFrameStart: { frameStarted(now: number): void } | undefined = undefined;
  /** Set by a watchdog with an idle deadline: only then is `receivedAt` kept. */
  watchesIdle = false;
  /** The connection's outbound queue, read by the write deadline; without it there is none. */
  writes: WriteProgress | undefined = undefined;
  /** Set by a watchdog with a write deadline, told by `queued`. */
  onWritesQueued: { writesQueued(): void } | undefined = undefined;

  /**
   * Whether `received` needs the time for bytes with this outcome: with an idle deadline, or when a
   * frame starts in them. A large frame's middle chunks need no clock read.
   */
  needsTime(completed: boolean, atBoundary: boolean): boolean {
    return this.watchesIdle || (!atBoundary && (this.frameStartedAt < 0 || completed));
  }

  /**
   * Records received bytes.
   * @param now the time, read only when `needsTime` said so (anything else otherwise)
   * @param completed whether they finished at least one frame
   * @param atBoundary whether the input now ends exactly on a frame boundary
   */
  received(now: number, completed: boolean, atBoundary: boolean): void {
    if (this.watchesIdle) this.receivedAt = now;
    if (completed) this.spoken = true;
    if (atBoundary) {
      this.frameStartedAt = -1;
    } else if (this.frameStartedAt < 0 || completed) {
      // A frame began in these bytes: the first one, or the one after a frame they finished.
      this.frameStartedAt = now;
      this.onFrameStart?.frameStarted(now);
    }
  }

  /** Records a frame queued for sending. */
  sent(now: number): void {
    this.sentAt = now;
  }

  /**
   * The outbound queue holds bytes the kernel has not taken: the connection tells at the end of a
   * tick in which it wrote. The write deadline starts watching it, if it does not already.
   */
  queued(): void {
    this.onWritesQueued?.writesQueued();
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
  /**
   * Emit `slow-consumer` when the queue of `Activity.writes` holds bytes and they made no progress
   * for this long; looked at every quarter of it while bytes are queued (see `Watchdog.writesQueued`).
   */
  readonly writeTimeoutMs?: number;
}

/** A deadline that passed: the connection closes with it as its reason. */
export type LivenessTimeout =
  | typeof CloseReasonKind.IdleTimeout
  | typeof CloseReasonKind.FrameTimeout
  | typeof CloseReasonKind.FirstMessageTimeout
  | typeof CloseReasonKind.SlowConsumer;

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
  return new Observable<LivenessSignal>((subscriber) => {
    const watchdog = new Watchdog(activity, options, scheduler, (signal) => {
      subscriber.next(signal);
      if (signal !== 'heartbeat') subscriber.complete();
    });
    return () => watchdog.stop();
  });
}

/**
 * The watchdog behind `liveness`, as one object with methods rather than an Observable and its
 * closures: a Messenger holds one for as long as it is open, and a hub may hold tens of thousands.
 * Starts at once; `signal` is told each heartbeat, then at most one timeout, after which it stops.
 */
export class Watchdog {
  private readonly heartbeatMs: number;
  private readonly idleMs: number;
  private readonly frameMs: number;
  private readonly firstMs: number;
  private readonly connectCheckMs: number;
  private readonly writeMs: number;
  /** How often the write deadline looks at the queue while bytes are queued: a quarter of it. */
  private readonly writeStepMs: number;
  private readonly startedAt: number;
  /** True while the queue holds bytes (from `writesQueued` until a look finds it empty). */
  private writesWatched = false;
  /** `handedBytes` at the latest look that saw progress, and the time of that look. */
  private writeMark = 0;
  private writeProgressAt = 0;
  private writeLookAt = Infinity;
  private lastBeat: number;
  private connectCheckDue: boolean;
  private timer: Subscription | undefined;
  private wakeAt = Infinity;
  private stopped = false;

  constructor(
    private readonly activity: Activity,
    options: LivenessOptions,
    private readonly scheduler: SchedulerLike,
    private readonly signal: (signal: LivenessSignal) => void,
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 0;
    this.idleMs = options.idleTimeoutMs ?? 0;
    this.frameMs = options.frameTimeoutMs ?? 0;
    this.firstMs = options.firstMessageTimeoutMs ?? 0;
    this.connectCheckMs = options.connectCheckMs ?? 0;
    this.writeMs = activity.writes ? (options.writeTimeoutMs ?? 0) : 0;
    this.writeStepMs = Math.max(1, Math.ceil(this.writeMs / 4));
    this.startedAt = scheduler.now();
    this.lastBeat = this.startedAt;
    this.connectCheckDue = this.connectCheckMs > 0;
    // The one event that can bring a deadline nearer: a frame starting while the timer sleeps longer.
    if (this.frameMs > 0) activity.onFrameStart = this;
    if (this.idleMs > 0) activity.watchesIdle = true;
    if (this.writeMs > 0) activity.onWritesQueued = this;
    this.arm(this.nextWake(), this.startedAt);
  }

  /** Stops the timer; nothing is signalled after. */
  stop(): void {
    this.stopped = true;
    this.timer?.unsubscribe();
    this.timer = undefined;
    if (this.activity.onFrameStart === this) this.activity.onFrameStart = undefined;
    if (this.activity.onWritesQueued === this) this.activity.onWritesQueued = undefined;
  }

  /** A frame started at `now` (called by the Activity). */
  frameStarted(now: number): void {
    if (now + this.frameMs < this.wakeAt) this.arm(now + this.frameMs, now);
  }

  /**
   * The connection's queue holds bytes the kernel has not taken (`Activity.queued`): the write
   * deadline starts watching, unless it already does. Nothing runs per
   * frame; while the queue holds bytes, a look every quarter of the deadline compares `handedBytes`.
   */
  writesQueued(): void {
    if (this.writesWatched || this.writeMs === 0 || this.stopped) return;
    const now = this.scheduler.now();
    this.writesWatched = true;
    this.writeMark = this.activity.writes!.handedBytes;
    this.writeProgressAt = now;
    this.writeLookAt = now + this.writeStepMs;
    if (this.writeLookAt < this.wakeAt) this.arm(this.writeLookAt, now);
  }

  /** The write deadline's look at the queue; true when its bytes made no progress for `writeMs`. */
  private writesStalled(now: number): boolean {
    if (!this.writesWatched || now < this.writeLookAt) return false;
    const writes = this.activity.writes!;
    if (writes.queuedBytes === 0) {
      this.writesWatched = false;
      this.writeLookAt = Infinity;
      return false;
    }
    const handed = writes.handedBytes;
    if (handed !== this.writeMark) {
      this.writeMark = handed;
      this.writeProgressAt = now;
    } else if (now >= this.writeProgressAt + this.writeMs) {
      return true;
    }
    this.writeLookAt = Math.min(now + this.writeStepMs, this.writeProgressAt + this.writeMs);
    return false;
  }

  private expired(now: number): LivenessTimeout | undefined {
    const activity = this.activity;
    if (this.frameMs > 0 && activity.frameStartedAt >= 0 && now >= activity.frameStartedAt + this.frameMs) return CloseReasonKind.FrameTimeout;
    if (this.firstMs > 0 && !activity.spoken && now >= this.startedAt + this.firstMs) return CloseReasonKind.FirstMessageTimeout;
    if (this.idleMs > 0 && now >= Math.max(activity.receivedAt, this.startedAt) + this.idleMs) return CloseReasonKind.IdleTimeout;
    return undefined;
  }

  private nextWake(): number {
    const activity = this.activity;
    let at = Infinity;
    if (this.idleMs > 0) at = Math.min(at, Math.max(activity.receivedAt, this.startedAt) + this.idleMs);
    if (this.frameMs > 0 && activity.frameStartedAt >= 0) at = Math.min(at, activity.frameStartedAt + this.frameMs);
    if (this.firstMs > 0 && !activity.spoken) at = Math.min(at, this.startedAt + this.firstMs);
    if (this.heartbeatMs > 0) at = Math.min(at, Math.max(activity.sentAt, this.lastBeat) + this.heartbeatMs);
    if (this.connectCheckDue) at = Math.min(at, this.startedAt + this.connectCheckMs);
    if (this.writesWatched) at = Math.min(at, this.writeLookAt);
    return at;
  }

  private beat(now: number): void {
    this.lastBeat = now;
    this.signal('heartbeat');
  }

  /** The timer's work, the same function for every watchdog: the watchdog is the action's state. */
  private static wake(this: SchedulerAction<Watchdog>, watchdog?: Watchdog): void {
    watchdog!.onWake(this);
  }

  private onWake(action: SchedulerAction<Watchdog>): void {
    const now = this.scheduler.now();
    const timeout = this.writesStalled(now) ? CloseReasonKind.SlowConsumer : this.expired(now);
    if (timeout !== undefined) {
      this.wakeAt = Infinity;
      this.timer = undefined;
      this.stop();
      this.signal(timeout);
      return;
    }
    if (this.connectCheckDue && now >= this.startedAt + this.connectCheckMs) {
      this.connectCheckDue = false;
      if (this.activity.sentAt < 0) this.beat(now);
    }
    if (this.heartbeatMs > 0 && now >= Math.max(this.activity.sentAt, this.lastBeat) + this.heartbeatMs) this.beat(now);
    if (this.stopped) return;
    this.wakeAt = this.nextWake();
    // Rescheduled from inside, with an unchanged delay, the timer keeps its interval.
    this.timer = this.wakeAt === Infinity ? undefined : action.schedule(this, Math.max(0, this.wakeAt - now));
  }

  private arm(at: number, now: number): void {
    this.timer?.unsubscribe();
    this.wakeAt = at;
    this.timer = at === Infinity ? undefined : this.scheduler.schedule(Watchdog.wake, Math.max(0, at - now), this);
  }
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
