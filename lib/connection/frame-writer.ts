/**
 * A connection's write path, below the Messenger's checks: a `send` that is the first frame of its
 * tick leaves at once, and the writes after it in the same tick are corked and leave together.
 * Frame heads are gathered into small pooled buffers (a `send` encodes straight into them) and
 * handed to the socket as one write each; content is written as it is, never copied; one shared
 * write callback settles, in order, every frame a write carries; the `send()` calls of one tick
 * share one Promise. While the socket's own buffer holds bytes the kernel has not taken (a slow
 * reader), the heads of later ticks are held and gathered (see `holding`) instead of costing the
 * socket one buffered write each.
 */
import type { Duplex } from 'node:stream';
import type { RxTcpHubError, SendFailedError } from '../errors.js';
import { writeFrameHead } from '../protocol/encode.js';
import { PREFIX_BYTES } from '../protocol/constants.js';
import type { Frame } from '../protocol/message.js';

/** A callback told when a frame was handed to the kernel (no argument) or failed (a typed error). */
export type WriteCallback = (error?: RxTcpHubError) => void;

/**
 * Told what became of frames queued with `Target.queue`: `settle(index)` when a frame was handed
 * to the kernel, `settle(index, error)` when it failed. One sink serves every target of a
 * broadcast, each under its own index, so a send to many connections allocates nothing per target.
 */
export interface WriteSink {
  settle(index: number, error?: RxTcpHubError): void;
}

const EMPTY = Buffer.alloc(0);
/** A shared stand-in for an empty queue (never changed): a quiet connection holds none of its own. */
const NO_COMPLETIONS: unknown[] = Object.freeze([]) as unknown as unknown[];
/** In the completions queue: the end of what one write's callback settles. */
const WRITE_END = Symbol('rx-tcp-hub.write-end');
/** Encoded frame heads up to this size are copied into the tick's gathering buffer. */
const GATHER_MAX_BYTES = 4096;
/**
 * The first gathering buffer of a tick is exactly the size of its first head (a tick often holds
 * one frame, and a queue held up by a slow reader then holds no more than it counts); each next one
 * is twice the last, up to just under half of `Buffer.poolSize`, so that all come from the pool.
 */
const GATHER_MAX_BUFFER_BYTES = 4000;
/**
 * While holding (see `FrameWriter.holding`), the gathering buffer may grow to this: a reader that
 * fell behind is sent fewer, larger writes, and the bytes it owes are held at about their own size.
 */
const HOLD_MAX_BUFFER_BYTES = 64 * 1024;

/** What a FrameWriter tells its connection; a Messenger is one. */
export interface WriterOwner {
  /** The typed error of a write's callback, or undefined when the frame really reached the kernel. */
  writeFailure(error: Error | null | undefined): SendFailedError | undefined;
  /**
   * The queue may have changed without a frame being accepted: told at the end of each tick that
   * wrote, and when the socket's buffer emptied after holding.
   */
  queueMoved(): void;
}

/**
 * The sends of one tick (the first frame leaves at once, the others together at the tick's end): one
 * promise serves them all instead of one per send, settled once every one of them reached the
 * kernel, or rejected with the first failure.
 * Sealed when the tick's writes are uncorked; settles once sealed and every frame has settled.
 */
export class SendBatch implements WriteSink {
  private made: Promise<void> | undefined;
  private resolve: (() => void) | undefined;
  private reject: ((error: unknown) => void) | undefined;
  private pending = 0;
  private sealed = false;
  private finished = false;
  private failure: RxTcpHubError | undefined;

  /**
   * Made when first asked for, which `send` does after its frame was written: a lone reply's
   * promise costs nothing before it leaves.
   */
  get promise(): Promise<void> {
    if (this.made === undefined) {
      if (this.finished) {
        this.made = this.failure ? Promise.reject(this.failure) : Promise.resolve();
      } else {
        this.made = new Promise<void>((resolve, reject) => {
          this.resolve = resolve;
          this.reject = reject;
        });
      }
    }
    return this.made;
  }

  /** One more frame joins this batch. */
  add(): void {
    this.pending++;
  }

  /** The frame just added was refused: it never joined. */
  remove(): void {
    this.pending--;
  }

  settle(_index: number, error?: RxTcpHubError): void {
    this.failure ??= error;
    if (--this.pending === 0 && this.sealed) this.finish();
  }

  /** The tick is over: no more frames join. */
  seal(): void {
    this.sealed = true;
    if (this.pending === 0) this.finish();
  }

  private finish(): void {
    this.finished = true;
    if (this.failure) this.reject?.(this.failure);
    else this.resolve?.();
  }
}

/**
 * Writes frames to one socket. The caller checks and counts each frame first (closed, queue
 * limit); `cork` starts the tick's batch. A Messenger makes one the first time it writes.
 */
export class FrameWriter {
  private corked = false;
  /**
   * The tick's first frame has not been written yet. A `send` (`text`) that is first leaves at
   * once, in one write, and only then is the socket corked: a lone reply reaches the kernel before
   * whatever its caller does next, and the frames that follow it in the same tick wait for the
   * tick's end to leave together. An encoded frame (`frame`: the hub's fan-out) corks at once.
   */
  private eager = false;
  /** The promise the sends of this tick share (see `SendBatch`). */
  private batch: SendBatch | undefined;
  /**
   * What to tell when each frame queued with a completion is written, oldest first, two slots a
   * frame: (sink, index) (a `send`'s batch, a broadcast's sink) or (callback, undefined); after the
   * frames one socket write carries, (WRITE_END, undefined). Writes complete in order, so one shared
   * callback (`written`) serves them all: no closure per frame or per write.
   */
  private completions: unknown[] = NO_COMPLETIONS;
  private completionsHead = 0;
  /**
   * The heads of this tick's frames, written one after another; bytes `[gatherStart, gatherEnd)`
   * are not handed to the socket yet. They go before a content buffer, when the buffer is full, and
   * when the tick ends. Let go at the end of each tick: a quiet connection holds none.
   */
  private gather: Buffer = EMPTY;
  private gatherStart = 0;
  private gatherEnd = 0;
  /** Completions whose frames end in the gathered bytes: settled by the write that carries them. */
  private gatherCompletions = 0;
  /**
   * The socket's buffer held bytes at the end of a tick: the kernel takes no more for now. Until it
   * has taken them all (a zero-length write queued behind them calls `emptied`), each tick's heads
   * stay in the gathering buffer, which grows up to `HOLD_MAX_BUFFER_BYTES`; then they leave in one
   * write. Without this, a reader that stopped would cost one buffered write (and its bookkeeping,
   * several times the bytes of a small frame) per tick until it is closed.
   */
  private holding = false;
  private emptied: ((error?: Error | null) => void) | undefined;
  private readonly written = (error?: Error | null): void => this.onWritten(error);

  /** @param owner told of write failures and queue moves (see `WriterOwner`) */
  constructor(
    private readonly socket: Duplex,
    private readonly owner: WriterOwner,
  ) {}

  /** Bytes accepted and gathered, not yet handed to the socket. */
  get gatheredBytes(): number {
    return this.gatherEnd - this.gatherStart;
  }

  /** Starts the tick's batch if none is open; true when this call started it. */
  cork(): boolean {
    if (this.corked) return false;
    // A send that comes first leaves at once (see `eager`); the writes after it in this tick leave
    // together: gathered, and as one writev. The socket is corked once the first frame is queued.
    this.corked = true;
    this.eager = true;
    process.nextTick(FrameWriter.uncork, this);
    return true;
  }

  /** The batch a `send` of this tick joins (see `SendBatch`); `keep` it once its frame is queued. */
  sendBatch(): SendBatch {
    return this.batch ?? new SendBatch();
  }

  /** The batch's frame was queued (the socket is corked): it is sealed when the tick ends. */
  keep(batch: SendBatch): void {
    this.batch = batch;
  }

  /** Writes an encoded frame: `first`/`second` say whom to tell (see `completions`); no `first`, nobody. */
  frame(frame: Frame, first: unknown, second: unknown): void {
    if (this.eager) {
      // A fan-out (broadcast, multicast) puts many frames on each target in a tick: they all wait
      // for the tick's end and leave in one write per target.
      this.eager = false;
      this.socket.cork();
    }
    this.queueFrame(frame, first, second);
  }

  /** `frame` for a frame given as its checked header text and content: the head is encoded in place. */
  text(text: string, textBytes: number, content: Buffer, sink: WriteSink): void {
    if (!this.eager) return this.queueText(text, textBytes, content, sink);
    const parts = content.length > 0;
    if (parts) this.socket.cork(); // head and content leave in one writev
    this.queueText(text, textBytes, content, sink);
    this.leaveNow(parts);
  }

  private queueFrame(frame: Frame, first: unknown, second: unknown): void {
    const head = frame[0]!;
    if (head.length <= GATHER_MAX_BYTES) {
      const at = this.reserve(head.length); // first: it may start a new gathering buffer
      head.copy(this.gather, at);
      if (frame.length === 1) return this.expectGathered(first, second);
      this.flush();
    } else {
      this.flush();
      if (frame.length === 1) return this.writeOut(head, first, second);
      this.socket.write(head);
    }
    const last = frame.length - 1;
    for (let i = 1; i < last; i++) this.socket.write(frame[i]);
    this.writeOut(frame[last]!, first, second);
  }

  private queueText(text: string, textBytes: number, content: Buffer, sink: WriteSink): void {
    const at = this.reserve(PREFIX_BYTES + textBytes); // first: it may start a new gathering buffer
    writeFrameHead(this.gather, at, text, textBytes);
    if (content.length === 0) return this.expectGathered(sink, 0);
    this.flush();
    this.writeOut(content, sink, 0);
  }

  /** Hands the gathered bytes, if any, to the socket as one buffer. */
  flush(): void {
    const start = this.gatherStart;
    const end = this.gatherEnd;
    if (end === start) return;
    this.gatherStart = end;
    const settles = this.gatherCompletions > 0;
    this.gatherCompletions = 0;
    const gather = this.gather;
    const chunk = start === 0 && end === gather.length ? gather : gather.subarray(start, end);
    if (!settles) {
      this.socket.write(chunk);
      return;
    }
    this.completions.push(WRITE_END, undefined);
    this.socket.write(chunk, this.written);
  }

  /**
   * Calls `done` once every byte accepted so far was handed to the kernel, or with the typed error
   * when the socket failed first: a zero-length write queued behind them.
   */
  whenWritten(done: WriteCallback): void {
    this.flush();
    this.socket.write(EMPTY, (error?: Error | null) => done(this.owner.writeFailure(error)));
  }

  /** The tick's first frame, just queued, leaves now (unless held); the socket is corked for the rest of the tick. */
  private leaveNow(corked: boolean): void {
    this.eager = false;
    if (!this.holding) this.flush();
    if (corked) this.socket.uncork();
    this.socket.cork();
  }

  private static uncork(writer: FrameWriter): void {
    writer.corked = false;
    // Corked once the tick's first frame was queued; a tick that queued none left it uncorked.
    const socketCorked = !writer.eager;
    writer.eager = false;
    const batch = writer.batch;
    writer.batch = undefined;
    if (!writer.holding) {
      writer.flush();
      writer.release();
    }
    const socket = writer.socket;
    if (socketCorked) socket.uncork();
    batch?.seal();
    if (!writer.holding && socket.writableLength > 0) writer.hold();
    writer.owner.queueMoved();
  }

  /** Lets the gathering buffer go: what was written from it is the socket's to keep. */
  private release(): void {
    this.gather = EMPTY;
    this.gatherStart = this.gatherEnd = 0;
  }

  /** The kernel took less than the socket was given: hold the next ticks' heads (see `holding`). */
  private hold(): void {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    this.holding = true;
    socket.write(EMPTY, (this.emptied ??= (error) => this.onEmptied(error)));
  }

  /** The zero-length write of `hold` was reached: every byte before it was taken, or the socket failed. */
  private onEmptied(error: Error | null | undefined): void {
    const socket = this.socket;
    if (error || socket.destroyed || socket.writableEnded) {
      this.holding = false; // the close flushed what was held; the socket's fate is the connection's
      return;
    }
    if (socket.writableLength > 0) {
      // Bytes written after it (a content buffer, a full gathering buffer) are still queued.
      socket.write(EMPTY, this.emptied);
      return;
    }
    this.holding = false;
    this.flush(); // what was held leaves in one write
    if (!this.corked) this.release(); // within a tick, the tick's frames still gather there
    if (socket.writableLength > 0) this.hold();
    this.owner.queueMoved();
  }

  /** Room for `n` more bytes in the gathering buffer; returns where they go. */
  private reserve(n: number): number {
    if (this.gatherEnd + n > this.gather.length) {
      this.flush();
      const size = Math.max(n, Math.min(2 * this.gather.length, this.holding ? HOLD_MAX_BUFFER_BYTES : GATHER_MAX_BUFFER_BYTES));
      this.gather = Buffer.allocUnsafe(size);
      this.gatherStart = this.gatherEnd = 0;
    }
    const at = this.gatherEnd;
    this.gatherEnd = at + n;
    return at;
  }

  /** The frame just gathered ends there: its completion waits for the write of the gathered bytes. */
  private expectGathered(first: unknown, second: unknown): void {
    if (first === undefined) return;
    this.expect(first, second);
    this.gatherCompletions++;
  }

  private expect(first: unknown, second: unknown): void {
    if (this.completions === NO_COMPLETIONS) this.completions = [];
    this.completions.push(first, second);
  }

  /** Writes a frame's last buffer; with `first`, its callback also settles that frame. */
  private writeOut(chunk: Buffer, first: unknown, second: unknown): void {
    if (first === undefined) {
      this.socket.write(chunk);
      return;
    }
    this.expect(first, second);
    this.completions.push(WRITE_END, undefined);
    this.socket.write(chunk, this.written);
  }

  /** A settling write was written, or failed: settle the completions queued before it. */
  private onWritten(error: Error | null | undefined): void {
    // Callbacks that come after a destroy may come out of order, but the failure is the same for
    // every one of them (unless all was written), so taking the oldest is always right.
    const failure = this.owner.writeFailure(error);
    for (;;) {
      // Read afresh each time: a settle may write, and a transport may call back at once.
      const completions = this.completions;
      const head = this.completionsHead;
      if (head >= completions.length) return; // never expected: every settling write ends in WRITE_END
      const first = completions[head];
      const second = completions[head + 1];
      if (head + 2 >= completions.length) {
        this.completions = NO_COMPLETIONS;
        this.completionsHead = 0;
      } else {
        completions[head] = completions[head + 1] = undefined;
        this.completionsHead = head + 2;
        // Keep a long-lived queue from growing forever at its front.
        if (head >= 4096 && head * 2 >= completions.length) {
          this.completions = completions.slice(head + 2);
          this.completionsHead = 0;
        }
      }
      if (first === WRITE_END) return;
      if (typeof second === 'number') (first as WriteSink).settle(second, failure);
      else (first as WriteCallback)(failure);
    }
  }
}
