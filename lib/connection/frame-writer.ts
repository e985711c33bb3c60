/**
 * A connection's write path, below the Messenger's checks. What is accepted waits in a list of
 * buffers (a broadcast's frame is the same buffer on every target: referred to, not copied) and
 * leaves at the end of the tick, corked into writevs; a `send` that is the first frame of its tick
 * leaves at once. The heads `send` encodes are written straight into small pooled buffers; other
 * small buffers are gathered into one; a large content is written as it is. Writing stops once the
 * kernel stops taking bytes: the rest waits, still as references, until the socket's buffer has
 * emptied (`holding`), so that a reader that fell behind costs a pointer per frame it owes, not a
 * copy of it. One shared write callback settles, in order, every frame a write carries; the
 * `send()` calls of one tick share one Promise.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RxTcpHubError, SendFailedError } from '../errors.js';
import { writeFrameHead } from '../protocol/encode.js';
import { PREFIX_BYTES } from '../protocol/constants.js';
import type { Frame } from '../protocol/message.js';

/** A callback told when a frame was handed to the kernel (no argument) or failed (a typed error). */
export type WriteCallback = (error?: RxTcpHubError) => void;

/**
 * Told what became of frames: `settle(frames)` when that many more were handed to the kernel,
 * `settle(frames, error)` when they failed. The sends of one tick share one (`SendBatch`), told
 * once per run of its frames rather than once per frame.
 */
export interface WriteSink {
  settle(frames: number, error?: RxTcpHubError): void;
}

const EMPTY = Buffer.alloc(0);
/** A shared stand-in for an empty queue (never changed): a quiet connection holds none of its own. */
const NO_COMPLETIONS: unknown[] = Object.freeze([]) as unknown as unknown[];
/** In the completions queue: the end of what one write's callback settles. */
const WRITE_END = Symbol('rx-tcp-hub.write-end');
/** In the list of what waits: the next two slots say whom to tell once the bytes before it are written. */
const SETTLE = Symbol('rx-tcp-hub.settle');
/** Buffers up to this size are gathered with their neighbours into one write; larger ones leave as they are. */
const GATHER_MAX_BYTES = 2048;
/** The largest write gathered from small buffers: under half of `Buffer.poolSize`, so it comes from the pool. */
const RUN_MAX_BYTES = 4000;
/**
 * The buffer that a TCP connection's gathered writes are copied into, shared by every connection:
 * a writev the kernel took whole (the socket's buffer is empty right after it) leaves nothing
 * holding it, so the next one reuses it. A writev the kernel did not take whole keeps it, and the
 * next one makes a new one. Only for a plain TCP socket, whose writes either reach the
 * kernel at once or keep their buffer; another transport (TLS, in memory) may hold on to a chunk
 * after its write called back.
 */
let scratch: Buffer | undefined;
/** Bytes of `scratch` in the writev being made (reset when it is taken, or let go). */
let scratchUsed = 0;
const SCRATCH_BYTES = 16 * 1024;
/** The most bytes one writev carries at a tick's end before the writer looks whether the kernel took them. */
const BATCH_MAX_BYTES = 64 * 1024;
/**
 * The buffer `send`s encode their heads into: the first of a tick is exactly the size of its first
 * head; each next one is twice the last, up to just under half of `Buffer.poolSize`, so that all
 * come from the pool.
 */
const HEAD_MAX_BUFFER_BYTES = 4000;

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

  settle(frames: number, error?: RxTcpHubError): void {
    this.failure ??= error;
    this.pending -= frames;
    if (this.pending === 0 && this.sealed) this.finish();
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
   * The tick's first frame has not been queued yet. A `send` (`text`) that is first leaves at
   * once, in one write: a lone reply reaches the kernel before whatever its caller does next. An
   * encoded frame (`frame`: the hub's fan-out) waits for the tick's end with the rest.
   */
  private eager = false;
  /** The promise the sends of this tick share (see `SendBatch`). */
  private batch: SendBatch | undefined;
  /**
   * What to tell when each written frame reached the kernel, oldest first, two slots a frame:
   * (sink, frames) (a `send`'s batch) or (callback, undefined); after the frames one socket write
   * carries, (WRITE_END, undefined). Writes complete in order, so one shared callback (`written`)
   * serves them all: no closure per frame or per write.
   */
  private completions: unknown[] = NO_COMPLETIONS;
  private completionsHead = 0;
  /**
   * What was accepted and not handed to the socket yet, from `waitingHead` on, in order: buffers
   * (a broadcast's are shared by all its targets), and after a frame's last buffer, when someone
   * waits for it, SETTLE and its two completion slots. Made when first needed, let go once empty.
   */
  private waiting: unknown[] | undefined;
  private waitingHead = 0;
  private waitingBytes = 0;
  /**
   * The heads `send` encodes, one after another; bytes `[gatherStart, gatherEnd)` are not in
   * `waiting` yet (`seal` puts them there, then `gatherSettles`: the completions of the frames that
   * end in them). Let go at the end of each tick: a quiet connection holds none.
   */
  private gather: Buffer = EMPTY;
  private gatherStart = 0;
  private gatherEnd = 0;
  private gatherSettles: unknown[] | undefined;
  /**
   * The kernel stopped taking bytes: the socket's buffer holds some, and what is accepted waits
   * here, referred to, until a zero-length write queued behind them (`emptied`) says the socket
   * took them all. Without this, a reader that stopped would cost a copy of every frame, plus the
   * socket's bookkeeping of one buffered write per tick, until it is closed.
   */
  private holding = false;
  private emptied: ((error?: Error | null) => void) | undefined;
  /** The socket is plain TCP: its gathered writes may use `scratch`. */
  private readonly reusable: boolean;
  private readonly written = (error?: Error | null): void => this.onWritten(error);

  /** @param owner told of write failures and queue moves (see `WriterOwner`) */
  constructor(
    private readonly socket: Duplex,
    private readonly owner: WriterOwner,
  ) {
    this.reusable = socket instanceof Socket && (socket as { encrypted?: boolean }).encrypted !== true;
  }

  /** Bytes accepted and not handed to the socket yet. */
  get gatheredBytes(): number {
    return this.waitingBytes + this.gatherEnd - this.gatherStart;
  }

  /** Starts the tick's batch if none is open; true when this call started it. */
  cork(): boolean {
    if (this.corked) return false;
    this.corked = true;
    this.eager = true;
    process.nextTick(FrameWriter.uncork, this);
    return true;
  }

  /** The batch a `send` of this tick joins (see `SendBatch`); `keep` it once its frame is queued. */
  sendBatch(): SendBatch {
    return this.batch ?? new SendBatch();
  }

  /** The batch's frame was queued: it is sealed when the tick ends. */
  keep(batch: SendBatch): void {
    this.batch = batch;
  }

  /** Queues an encoded frame: `first`/`second` say whom to tell (see `completions`); no `first`, nobody. */
  frame(frame: Frame, first: unknown, second: unknown): void {
    this.eager = false; // a fan-out's frames leave together at the tick's end
    this.seal();
    const waiting = (this.waiting ??= []);
    for (let i = 0; i < frame.length; i++) {
      const buffer = frame[i]!;
      waiting.push(buffer);
      this.waitingBytes += buffer.length;
    }
    if (first !== undefined) waiting.push(SETTLE, first, second);
  }

  /** `frame` for a frame given as its checked header text and content: the head is encoded in place. */
  text(text: string, textBytes: number, content: Buffer, sink: WriteSink): void {
    const at = this.reserve(PREFIX_BYTES + textBytes);
    writeFrameHead(this.gather, at, text, textBytes);
    if (content.length === 0) {
      // The frames of one sink that end in the same gathered bytes are told together.
      const settles = (this.gatherSettles ??= []);
      const last = settles.length - 2;
      if (last >= 0 && settles[last] === sink) (settles[last + 1] as number)++;
      else settles.push(sink, 1);
    } else {
      this.seal();
      this.waiting!.push(content, SETTLE, sink, 1);
      this.waitingBytes += content.length;
    }
    if (this.eager) {
      this.eager = false;
      if (!this.holding) this.writeWaiting(false);
    }
  }

  /** Hands everything accepted to the socket (a close, `whenWritten`): it is the socket's to write or fail. */
  flush(): void {
    this.writeWaiting(false);
  }

  /**
   * Calls `done` once every byte accepted so far was handed to the kernel, or with the typed error
   * when the socket failed first: a zero-length write queued behind them.
   */
  whenWritten(done: WriteCallback): void {
    this.flush();
    this.socket.write(EMPTY, (error?: Error | null) => done(this.owner.writeFailure(error)));
  }

  /**
   * The socket is gone: what still waits will never be written. Its completions fail with the
   * socket's error (see `WriterOwner.writeFailure`).
   */
  abandon(): void {
    this.seal();
    const waiting = this.waiting;
    if (waiting === undefined) return;
    const head = this.waitingHead;
    this.waiting = undefined;
    this.waitingHead = this.waitingBytes = 0;
    let failure: RxTcpHubError | undefined;
    for (let j = head; j < waiting.length; j++) {
      if (waiting[j] !== SETTLE) continue;
      failure ??= this.owner.writeFailure(Object.assign(new Error('the socket closed before the frame was written'), { code: 'ERR_STREAM_DESTROYED' }));
      tell(waiting[j + 1], waiting[j + 2], failure);
      j += 2;
    }
  }

  private static uncork(writer: FrameWriter): void {
    writer.corked = false;
    writer.eager = false;
    const batch = writer.batch;
    writer.batch = undefined;
    if (writer.holding) writer.seal();
    else writer.writeWaiting(true);
    // Let the head buffer go: what was written from it is the socket's to keep, the rest is in `waiting`.
    writer.gather = EMPTY;
    writer.gatherStart = writer.gatherEnd = 0;
    batch?.seal();
    if (!writer.holding && (writer.waiting !== undefined || writer.socket.writableLength > 0)) writer.hold();
    writer.owner.queueMoved();
  }

  /** The kernel took less than it was given: wait for the socket's buffer to empty (see `holding`). */
  private hold(): void {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    this.holding = true;
    socket.write(EMPTY, (this.emptied ??= (error) => this.onEmptied(error)));
  }

  /** The zero-length write of `hold` was reached: every byte before it was taken, or the socket failed. */
  private onEmptied(error: Error | null | undefined): void {
    const socket = this.socket;
    this.holding = false;
    if (error || socket.destroyed || socket.writableEnded) return; // a close flushed what waited
    if (socket.writableLength === 0) this.writeWaiting(true);
    if (this.waiting !== undefined || socket.writableLength > 0) this.hold();
    this.owner.queueMoved();
  }

  /** Puts the heads gathered since the last seal in `waiting`, then the completions of their frames. */
  private seal(): void {
    const start = this.gatherStart;
    const end = this.gatherEnd;
    if (end === start) return;
    this.gatherStart = end;
    const gather = this.gather;
    const waiting = (this.waiting ??= []);
    waiting.push(start === 0 && end === gather.length ? gather : gather.subarray(start, end));
    this.waitingBytes += end - start;
    const settles = this.gatherSettles;
    if (settles === undefined) return;
    this.gatherSettles = undefined;
    for (let i = 0; i < settles.length; i += 2) waiting.push(SETTLE, settles[i], settles[i + 1]);
  }

  /**
   * Hands what waits to the socket, oldest first, corked into writevs. Small buffers next to each
   * other are gathered (copied) into one; a larger one is written as it is. With `whileTaken` (a
   * tick's end, an emptied socket) a writev carries up to `BATCH_MAX_BYTES`, and the writing stops
   * after the first one the kernel did not take whole: the rest keeps waiting, as references (a
   * copy made for each target of a broadcast, while its reader is behind, would be memory that only
   * grows). On a TCP socket those writevs gather into `scratch`, reused by every connection, so a
   * fan-out leaves the collector no copies. Otherwise (a close, a first `send`) all of it goes in
   * one writev, gathered into fresh pooled buffers when what waits is small.
   */
  private writeWaiting(whileTaken: boolean): void {
    this.seal();
    const waiting = this.waiting;
    if (waiting === undefined) return;
    const socket = this.socket;
    const reuse = whileTaken && this.reusable;
    // A close's flush of a long wait hands the buffers over as they are: copies would double it.
    const runMax = reuse ? SCRATCH_BYTES : whileTaken || this.waitingBytes <= SCRATCH_BYTES ? RUN_MAX_BYTES : 0;
    let i = this.waitingHead;
    let batched = 0;
    scratchUsed = 0;
    socket.cork();
    while (i < waiting.length) {
      // One buffer of the writev: the buffers from i to end, with the SETTLE entries among and right after them.
      let end = i;
      let bytes = 0;
      let count = 0;
      let settles = false;
      const first = waiting[i] as Buffer;
      while (end < waiting.length) {
        const item = waiting[end];
        if (item === SETTLE) {
          end += 3;
          settles = true;
          continue;
        }
        const length = (item as Buffer).length;
        if (count > 0 && (length > GATHER_MAX_BYTES || first.length > GATHER_MAX_BYTES || bytes + length > runMax)) break;
        count++;
        bytes += length;
        end++;
      }
      if (reuse && count > 1 && scratchUsed + bytes > SCRATCH_BYTES) {
        // The scratch buffer is full: this writev ends here, and the next starts on it afresh if the kernel took it.
        if (!endBatch(socket)) break;
        batched = 0;
      }
      let chunk = first;
      if (count > 1) {
        if (reuse) {
          scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES);
          chunk = gatherRun(waiting, i, end, scratch.subarray(scratchUsed, scratchUsed + bytes));
          scratchUsed += bytes;
        } else {
          chunk = gatherRun(waiting, i, end, Buffer.allocUnsafe(bytes));
        }
      }
      for (let j = i; j < end; j++) {
        if (waiting[j] === SETTLE) {
          if (this.completions === NO_COMPLETIONS) this.completions = [];
          this.completions.push(waiting[j + 1], waiting[j + 2]);
          waiting[j + 1] = waiting[j + 2] = undefined;
          waiting[j] = undefined;
          j += 2;
        } else {
          waiting[j] = undefined;
        }
      }
      this.waitingBytes -= bytes;
      i = end;
      if (settles) {
        this.completions.push(WRITE_END, undefined);
        socket.write(chunk, this.written);
      } else {
        socket.write(chunk);
      }
      batched += bytes;
      if (whileTaken && batched >= BATCH_MAX_BYTES && i < waiting.length) {
        if (!endBatch(socket)) break;
        batched = 0;
      }
    }
    if (socket.writableCorked > 0) {
      socket.uncork();
      if (scratchUsed > 0 && socket.writableLength > 0) scratch = undefined; // the socket may hold it
      scratchUsed = 0;
    }
    if (i >= waiting.length) {
      this.waiting = undefined;
      this.waitingHead = 0;
    } else if (i >= 4096 && i * 2 >= waiting.length) {
      // Keep a long wait from growing the list forever at its front.
      this.waiting = waiting.slice(i);
      this.waitingHead = 0;
    } else {
      this.waitingHead = i;
    }
  }

  /** Room for `n` more bytes in the head buffer; returns where they go. */
  private reserve(n: number): number {
    if (this.gatherEnd + n > this.gather.length) {
      this.seal();
      const size = Math.max(n, Math.min(2 * this.gather.length, HEAD_MAX_BUFFER_BYTES));
      this.gather = Buffer.allocUnsafe(size);
      this.gatherStart = this.gatherEnd = 0;
    }
    const at = this.gatherEnd;
    this.gatherEnd = at + n;
    return at;
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
      tell(first, second, failure);
    }
  }
}

/** Settles one frame's completion: a sink and its index, or a callback. */
function tell(first: unknown, second: unknown, failure: RxTcpHubError | undefined): void {
  if (typeof second === 'number') (first as WriteSink).settle(second, failure);
  else (first as WriteCallback)(failure);
}

/**
 * Uncorks a writev: true when the kernel took all of it (the socket holds nothing), and the socket
 * is corked again for the next; false when it did not, and then the scratch buffer, which the
 * socket may now hold, is let go.
 */
function endBatch(socket: Duplex): boolean {
  socket.uncork();
  if (socket.writableLength > 0) {
    if (scratchUsed > 0) scratch = undefined;
    scratchUsed = 0;
    return false;
  }
  scratchUsed = 0;
  socket.cork();
  return true;
}

/** The buffers of `waiting[from, to)` (SETTLE entries skipped) copied into `out`, which it returns. */
function gatherRun(waiting: readonly unknown[], from: number, to: number, out: Buffer): Buffer {
  let at = 0;
  for (let j = from; j < to; j++) {
    const item = waiting[j];
    if (item === SETTLE) {
      j += 2;
      continue;
    }
    at += (item as Buffer).copy(out, at);
  }
  return out;
}
