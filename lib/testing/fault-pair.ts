/**
 * An in-memory connection with faults on demand, for testing what code over a connection does
 * when the network misbehaves. Each direction is a link that carries one end's writes to the other
 * end: it can split them into pieces of chosen sizes, delay each piece on an RxJS scheduler, stop
 * delivering (a stall) and go on later, or end in a reset after a given number of bytes. Without
 * faults it behaves as `socketPair`: backpressure, `end()` as FIN, `reset()` as ECONNRESET.
 */
import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';
import { InvalidOptionError } from '../errors.js';
import { DEFAULT_BUFFER_BYTES, MemorySocket, errno, joinPair, type SocketPairOptions } from './socket-pair.js';

/**
 * How to split one write: the sizes of its pieces, in order. Bytes past their sum go as one last
 * piece; a size past the bytes left is cut to them. Each size must be a whole number >= 1.
 * @example
 * const halves: Chunking = (bytes) => [Math.ceil(bytes.length / 2)];
 */
export type Chunking = (bytes: Buffer) => Iterable<number>;

/**
 * The latency of each piece in ms: a number, or a function of the piece and its index (counted
 * from 0 on each direction). Pieces keep their order: a piece is never delivered before the one
 * written ahead of it, whatever their delays.
 */
export type Delay = number | ((piece: Buffer, index: number) => number);

export interface FaultPairOptions extends SocketPairOptions {
  /** How each write is split, both ways (`randomChunks`, `chunksOf`, or your own). Default: whole writes. */
  readonly chunks?: Chunking;
  /** The latency of each piece, both ways. Default 0: delivered at once. */
  readonly delayMs?: Delay;
  /** The clock and timers of the delays; a `VirtualTimeScheduler` or `TestScheduler` in tests. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/**
 * Splits writes into pieces of random sizes from `min` to `max` bytes, drawn from a generator
 * seeded with `seed`: the same seed gives the same pieces, so a failing run can be replayed.
 * @example
 * const [a, b] = faultPair({ chunks: randomChunks(42, { max: 7 }) });
 */
export function randomChunks(seed: number, sizes: { readonly min?: number; readonly max?: number } = {}): Chunking {
  const min = sizes.min ?? 1;
  const max = sizes.max ?? 16;
  if (!Number.isSafeInteger(min) || min < 1) throw new InvalidOptionError('min', min, 'a whole number >= 1');
  if (!Number.isSafeInteger(max) || max < min) throw new InvalidOptionError('max', max, `a whole number >= min (${min})`);
  const random = mulberry32(seed);
  return function* (bytes) {
    for (let left = bytes.length; left > 0; ) {
      const size = min + Math.floor(random() * (max - min + 1));
      yield size;
      left -= size;
    }
  };
}

/**
 * Splits writes into pieces of `size` bytes (the last one shorter); `chunksOf(1)` delivers one
 * byte at a time.
 */
export function chunksOf(size: number): Chunking {
  if (!Number.isSafeInteger(size) || size < 1) throw new InvalidOptionError('size', size, 'a whole number >= 1');
  return function* (bytes) {
    for (let at = 0; at < bytes.length; at += size) yield size;
  };
}

/**
 * One end of a faulty in-memory connection. It is a `MemorySocket`, so anything that takes one
 * (a `Messenger`, say) takes it; the methods below inject the faults, at any time.
 *
 * @example
 * const [a, b] = faultPair();
 * const writer = new Messenger(a, 'a', { maxQueueBytes: 64 * 1024 });
 * b.stallReading();          // b takes nothing more: a's bytes pile up, then a's queue
 * b.resumeReading();         // everything held is delivered, in order
 * a.resetAfter(3);           // three more bytes reach b, then a resets: b sees ECONNRESET
 */
export class FaultSocket extends MemorySocket {
  declare peer: FaultSocket;
  /** This end's writes on their way to the peer. */
  private readonly outgoing: Link;
  private aborted = false;

  constructor(port: number, bufferBytes: number, options: FaultPairOptions, scheduler: SchedulerLike) {
    super(port, bufferBytes);
    this.outgoing = new Link(this, bufferBytes, scheduler, options.chunks, options.delayMs ?? 0);
  }

  /** Bytes this end wrote that have not reached the peer yet (held by delays, stalls or the peer's full buffer). */
  get inFlightBytes(): number {
    return this.outgoing.heldBytes;
  }

  /** Splits this end's later writes with `chunking`; `undefined` sends whole writes again. */
  splitWrites(chunking: Chunking | undefined): this {
    this.outgoing.chunking = chunking;
    return this;
  }

  /** Delays each piece of this end's later writes (see `Delay`); 0 delivers at once again. */
  delayWrites(delay: Delay): this {
    checkDelay(delay);
    this.outgoing.delay = delay;
    return this;
  }

  /**
   * Stops delivering this end's bytes to the peer, once `afterBytes` more have reached it (0: at
   * once), as a link that goes silent. Writes go on being accepted until the link holds
   * `bufferBytes`; then they wait in this end's queue (`writableLength`).
   */
  stallDelivery(afterBytes = 0): this {
    this.outgoing.stallAfter(count('afterBytes', afterBytes));
    return this;
  }

  /** Delivers what a `stallDelivery` held, in order, and goes on delivering. */
  resumeDelivery(): this {
    this.outgoing.resume('delivery');
    return this;
  }

  /**
   * Stops reading: nothing the peer writes reaches this end, whatever this end's own stream does
   * (a `Messenger` that resumes its socket still gets nothing). The peer's writes pile up, then
   * wait in its queue: backpressure, as with a TCP reader that stopped reading.
   */
  stallReading(): this {
    this.peer.outgoing.stallReading();
    return this;
  }

  /** Reads again: what the peer wrote meanwhile is delivered, in order. */
  resumeReading(): this {
    this.peer.outgoing.resume('reading');
    return this;
  }

  /**
   * Resets this end once `bytes` more of its writes have reached the peer (0: at once): the peer
   * gets exactly those bytes, then ECONNRESET; what was still in flight is lost.
   */
  resetAfter(bytes: number): this {
    this.outgoing.resetAfter(count('bytes', bytes));
    return this;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (peer.destroyed || peer.readableEnded || this.outgoing.finished) {
      callback(errno('EPIPE', 'write EPIPE'));
      return;
    }
    try {
      this.outgoing.send(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    this.outgoing.whenRoom(callback);
  }

  override _read(): void {
    this.peer.outgoing.pump();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.peer.destroyed) this.outgoing.sendFin();
    callback();
  }

  /** Destroys this end with no FIN, even after `end()`: the peer sees ECONNRESET, and what was in flight is lost. */
  override reset(): void {
    this.aborted = true;
    this.destroy();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    const abrupt = error !== null || !this.writableFinished || this.aborted;
    if (abrupt) this.outgoing.drop();
    // After a FIN the link goes on delivering what it holds, the FIN last, as TCP does after close().
    if (abrupt && !peer.destroyed && !peer.readableEnded) peer.destroy(errno('ECONNRESET', 'read ECONNRESET'));
    // Nothing more reaches a destroyed end; the peer's later writes fail with EPIPE.
    peer.outgoing.drop();
    callback(error);
  }
}

/** One direction of a faulty connection: the writer's pieces, their due times, and the faults. */
class Link {
  chunking: Chunking | undefined;
  delay: Delay;
  /** The FIN was queued, or the link was dropped: nothing more may be written. */
  finished = false;
  private readonly pieces: Array<{ bytes: Buffer | null; due: number }> = [];
  private held = 0;
  private lastDue = -Infinity;
  private index = 0;
  private deliveryStalled = false;
  private readingStalled = false;
  private untilStall = Infinity;
  private untilReset = Infinity;
  private timer: Subscription | undefined;
  private waiting: (() => void) | null = null;
  private pumping = false;

  constructor(
    private readonly from: FaultSocket,
    private readonly bufferBytes: number,
    private readonly scheduler: SchedulerLike,
    chunking: Chunking | undefined,
    delay: Delay,
  ) {
    checkDelay(delay);
    this.chunking = chunking;
    this.delay = delay;
  }

  get heldBytes(): number {
    return this.held;
  }

  /** Cuts a write into pieces and queues them; throws InvalidOptionError for a bad size or delay. */
  send(chunk: Buffer): void {
    const pieces: Buffer[] = [];
    let at = 0;
    if (this.chunking) {
      for (const size of this.chunking(chunk)) {
        if (at >= chunk.length) break;
        if (!Number.isSafeInteger(size) || size < 1) throw new InvalidOptionError('chunks', size, 'a piece size, a whole number >= 1');
        pieces.push(chunk.subarray(at, Math.min(at + size, chunk.length)));
        at += size;
      }
    }
    if (at < chunk.length) pieces.push(chunk.subarray(at));
    const now = this.scheduler.now();
    for (const piece of pieces) {
      const delay = typeof this.delay === 'number' ? this.delay : this.delay(piece, this.index);
      checkDelay(delay);
      this.index++;
      this.queue(piece, now + delay);
    }
    this.pump();
  }

  sendFin(): void {
    this.finished = true;
    this.queue(null, this.scheduler.now());
    this.pump();
  }

  /** Calls back the writer now if the link has room, else once it has. */
  whenRoom(callback: () => void): void {
    if (this.held <= this.bufferBytes) callback();
    else this.waiting = callback;
  }

  stallAfter(bytes: number): void {
    this.untilStall = bytes;
    this.pump();
  }

  stallReading(): void {
    this.readingStalled = true;
  }

  resume(which: 'delivery' | 'reading'): void {
    if (which === 'delivery') {
      this.deliveryStalled = false;
      this.untilStall = Infinity;
    } else {
      this.readingStalled = false;
    }
    this.pump();
  }

  resetAfter(bytes: number): void {
    this.untilReset = bytes;
    this.pump();
  }

  /** Forgets everything in flight and lets a waiting writer go (its socket is being destroyed). */
  drop(): void {
    this.finished = true;
    this.pieces.length = 0;
    this.held = 0;
    this.timer?.unsubscribe();
    this.timer = undefined;
    // Let go later, as a TCP socket's pending writes complete after its destroy: a write callback
    // that ran inside destroy() would re-enter whoever is destroying.
    const waiting = this.waiting;
    this.waiting = null;
    if (waiting) process.nextTick(waiting);
  }

  /** Delivers every piece that is due, until a stall, a full reader or a piece not due yet. */
  pump(): void {
    if (this.pumping) return; // the loop below is running and will see what changed
    this.pumping = true;
    try {
      this.deliver();
    } finally {
      this.pumping = false;
    }
    if (this.waiting && this.held <= this.bufferBytes) {
      const waiting = this.waiting;
      this.waiting = null;
      waiting();
    }
  }

  private queue(bytes: Buffer | null, due: number): void {
    this.lastDue = Math.max(this.lastDue, due);
    this.pieces.push({ bytes, due: this.lastDue });
    if (bytes) this.held += bytes.length;
  }

  private deliver(): void {
    const to = this.from.peer;
    for (;;) {
      if (this.untilReset === 0) {
        this.untilReset = Infinity;
        this.from.reset();
        return;
      }
      if (this.untilStall === 0) {
        this.untilStall = Infinity;
        this.deliveryStalled = true;
      }
      const head = this.pieces[0];
      if (!head || this.deliveryStalled || this.readingStalled || to.destroyed) return;
      const wait = head.due - this.scheduler.now();
      if (wait > 0) {
        this.timer ??= this.scheduler.schedule(() => {
          this.timer = undefined;
          this.pump();
        }, wait);
        return;
      }
      if (head.bytes === null) {
        this.pieces.shift();
        to.push(null);
        return;
      }
      const n = Math.min(head.bytes.length, this.untilStall, this.untilReset);
      const bytes = head.bytes.subarray(0, n);
      if (n === head.bytes.length) this.pieces.shift();
      else head.bytes = head.bytes.subarray(n);
      this.held -= n;
      this.untilStall -= n;
      this.untilReset -= n;
      if (!to.push(bytes) && this.untilReset !== 0 && this.untilStall !== 0) return; // its _read pumps again
    }
  }
}

/**
 * Makes a connected pair of in-memory sockets whose links can delay, split, stall and reset.
 *
 * @example
 * const scheduler = new VirtualTimeScheduler();
 * const [a, b] = faultPair({ chunks: randomChunks(7), delayMs: 20, scheduler });
 * const sender = new Messenger(a, 'a');
 * const receiver = new Messenger(b, 'b');
 * receiver.messages$.subscribe(({ header }) => console.log(header)); // whole messages, however split
 * await sender.send({ info: 'hi' });
 * scheduler.flush();
 */
export function faultPair(options: FaultPairOptions = {}): [FaultSocket, FaultSocket] {
  const buffer = options.bufferBytes ?? DEFAULT_BUFFER_BYTES;
  const scheduler = options.scheduler ?? asyncScheduler;
  return joinPair((port) => new FaultSocket(port, buffer, options, scheduler));
}

function checkDelay(delay: Delay | number): void {
  if (typeof delay === 'function') return;
  if (!Number.isFinite(delay) || delay < 0) throw new InvalidOptionError('delayMs', delay, 'a number of milliseconds >= 0');
}

function count(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidOptionError(name, value, 'a whole number of bytes >= 0');
  return value;
}

/** A small seeded generator of numbers in [0, 1): the same seed, the same sequence. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
