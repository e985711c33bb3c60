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
  const buffer = options.bufferBytes ?? DEFAULT_BUFFER_BYTES;
  return joinPair((port) => new MemorySocket(port, buffer));
}

/** Default `bufferBytes` of in-memory sockets: 64 KiB. */
export const DEFAULT_BUFFER_BYTES = 64 * 1024;

/** Makes two ends with `make(port)`, each with a port of its own, and joins them. For the pair makers of this folder. */
export function joinPair<S extends MemorySocket>(make: (port: number) => S): [S, S] {
  const a = make(nextPort++);
  const b = make(nextPort++);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** An error as a socket reports it, with its errno `code` (`ECONNRESET`, `EPIPE`). */
export function errno(code: string, message: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(message);
  error.code = code;
  return error;
}
