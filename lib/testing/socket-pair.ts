/**
 * Two connected in-memory byte streams that behave like a TCP connection: what one end writes the
 * other reads, a reader that stops reading holds the writer's bytes in its queue (backpressure),
 * `end()` is a FIN and `reset()` an ECONNRESET on the other side.
 */
import { Duplex } from 'node:stream';

export interface SocketPairOptions {
  /** Bytes a reader holds before its writer's callbacks wait (the "kernel buffer"). Default 64 KiB. */
  readonly bufferBytes?: number;
}

/** One end of an in-memory connection; it has the parts of `net.Socket` that a Messenger uses. */
export class MemorySocket extends Duplex {
  remoteAddress = 'memory';
  remotePort: number;
  peer!: MemorySocket;
  private waiting: (() => void) | null = null;

  constructor(port: number, bufferBytes: number) {
    super({ readableHighWaterMark: bufferBytes, writableHighWaterMark: bufferBytes, allowHalfOpen: false });
    this.remotePort = port;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (peer.destroyed || peer.readableEnded) {
      callback(errno('EPIPE', 'write EPIPE'));
      return;
    }
    if (peer.push(chunk)) callback();
    else peer.waiting = () => callback();
  }

  override _read(): void {
    const resume = this.waiting;
    this.waiting = null;
    resume?.();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (!peer.destroyed && !peer.readableEnded) {
      // An abrupt close is a reset for the other side; a close after FIN is a normal close.
      if (error || !this.writableFinished) peer.destroy(errno('ECONNRESET', 'read ECONNRESET'));
      else peer.push(null);
    }
    // Writes held by backpressure, ours into the peer and the peer's into us, are let go later, as a
    // TCP socket's pending writes complete after its destroy: a write callback that ran inside
    // destroy() would re-enter whoever is destroying.
    for (const waiting of [peer.waiting, this.waiting]) if (waiting) process.nextTick(waiting);
    peer.waiting = null;
    this.waiting = null;
    callback(error);
  }

  /** Destroys this end with no FIN: the other end sees ECONNRESET. */
  reset(): void {
    this.destroy();
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }
}

let nextPort = 1;

/**
 * Makes a connected pair of in-memory sockets.
 * @example
 * const [a, b] = socketPair();
 * b.on('data', (chunk) => console.log(chunk)); a.write('hi');
 */
export function socketPair(options: SocketPairOptions = {}): [MemorySocket, MemorySocket] {
  const buffer = options.bufferBytes ?? 64 * 1024;
  const a = new MemorySocket(nextPort++, buffer);
  const b = new MemorySocket(nextPort++, buffer);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

function errno(code: string, message: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(message);
  error.code = code;
  return error;
}
