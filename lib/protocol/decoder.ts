/**
 * The decoder: a streaming state machine that turns chunks of bytes, split anywhere, into messages.
 * It knows nothing of sockets. Limits are checked from the length fields before any byte of the
 * part they announce is held, and the first error ends the decoder: a stream that broke the
 * format once cannot be trusted to be in sync again.
 */
import { isUtf8 } from 'node:buffer';
import { ErrorCode, InvalidOptionError, ProtocolError } from '../errors.js';
import { CONTENT_LENGTH_KEY, DEFAULT_MAX_CONTENT_BYTES, PREFIX_BYTES } from './constants.js';
import type { Header, Message } from './message.js';

export interface DecoderOptions {
  /** Largest content a frame may announce; a larger `CL` is an `ERR_CONTENT_TOO_LARGE` error. Default 64 MiB. */
  readonly maxContentBytes?: number;
}

const enum State {
  Prefix,
  Header,
  Content,
  Failed,
}

const EMPTY = Buffer.alloc(0);
const DECIMAL = /^[0-9]+$/;

/**
 * Feeds on chunks and calls back with each complete message, in order.
 *
 * @example
 * const decoder = new FrameDecoder({ maxContentBytes: 1 << 20 });
 * socket.on('data', (chunk) => decoder.push(chunk, (message) => console.log(message.header)));
 */
export class FrameDecoder {
  readonly maxContentBytes: number;
  private state = State.Prefix;
  private chunks: Buffer[] = [];
  private first = 0; // index of the first unread chunk
  private offset = 0; // read position inside chunks[first]
  private available = 0; // unread bytes over all chunks
  private headerBytes = 0;
  private header: Header = EMPTY_HEADER;
  private contentBytes = 0;

  constructor(options: DecoderOptions = {}) {
    const max = options.maxContentBytes ?? DEFAULT_MAX_CONTENT_BYTES;
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new InvalidOptionError('maxContentBytes', max, 'a whole number of bytes >= 0');
    }
    this.maxContentBytes = max;
  }

  /** Bytes received and not yet part of a delivered message. */
  get bufferedBytes(): number {
    // The prefix and header of the frame in progress are already parsed, but not yet delivered.
    if (this.state === State.Header) return PREFIX_BYTES + this.available;
    if (this.state === State.Content) return PREFIX_BYTES + this.headerBytes + this.available;
    return this.available;
  }

  /** True when the bytes so far end exactly on a frame boundary. */
  get atBoundary(): boolean {
    return this.state === State.Prefix && this.available === 0;
  }

  /**
   * Adds a chunk and delivers every message it completes.
   * @throws ProtocolError on the first malformed frame; the decoder refuses any further input.
   */
  push(chunk: Uint8Array, deliver: (message: Message) => void): void {
    if (this.state === State.Failed) {
      throw new ProtocolError(ErrorCode.TruncatedFrame, 'decoder already failed on earlier input');
    }
    if (chunk.length === 0) return;
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.available += chunk.length;
    try {
      this.drain(deliver);
    } catch (error) {
      if (error instanceof ProtocolError) this.fail();
      throw error;
    }
  }

  /**
   * Declares the end of input.
   * @throws ProtocolError `ERR_TRUNCATED_FRAME` when the input stopped inside a frame.
   */
  end(): void {
    if (this.state === State.Failed || this.atBoundary) return;
    const missing =
      this.state === State.Prefix
        ? PREFIX_BYTES - this.available
        : this.state === State.Header
          ? this.headerBytes - this.available
          : this.contentBytes - this.available;
    this.fail();
    throw new ProtocolError(ErrorCode.TruncatedFrame, `input ended inside a frame, ${missing} byte(s) short`);
  }

  private drain(deliver: (message: Message) => void): void {
    for (;;) {
      if (this.state === State.Prefix) {
        if (this.available < PREFIX_BYTES) return;
        this.headerBytes = this.readUInt16LE();
        this.state = State.Header;
      }
      if (this.state === State.Header) {
        if (this.available < this.headerBytes) return;
        const text = this.take(this.headerBytes);
        const { header, contentLength } = parseHeader(text, this.maxContentBytes);
        this.header = header;
        this.contentBytes = contentLength;
        this.state = State.Content;
      }
      if (this.available < this.contentBytes) return;
      const content = this.contentBytes === 0 ? EMPTY : this.take(this.contentBytes);
      const header = this.header;
      this.header = EMPTY_HEADER;
      this.state = State.Prefix;
      deliver({ header, content });
    }
  }

  private readUInt16LE(): number {
    const head = this.chunks[this.first]!;
    if (head.length - this.offset >= 2) {
      const value = head.readUInt16LE(this.offset);
      this.advance(2);
      return value;
    }
    return this.take(2).readUInt16LE(0);
  }

  /** Takes n bytes (n <= available): a view when they lie in one chunk, one copy otherwise. */
  private take(n: number): Buffer {
    if (n === 0) return EMPTY; // a zero-length header may follow a prefix that ended its chunk
    const head = this.chunks[this.first]!;
    if (head.length - this.offset >= n) {
      const view = head.subarray(this.offset, this.offset + n);
      this.advance(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[this.first]!;
      const count = Math.min(chunk.length - this.offset, n - filled);
      chunk.copy(out, filled, this.offset, this.offset + count);
      filled += count;
      this.advance(count);
    }
    return out;
  }

  private advance(n: number): void {
    this.offset += n;
    this.available -= n;
    if (this.offset === this.chunks[this.first]!.length) {
      this.chunks[this.first] = EMPTY; // let the chunk go before the array is reset
      this.first++;
      this.offset = 0;
      if (this.first === this.chunks.length) {
        this.chunks = [];
        this.first = 0;
      }
    }
  }

  private fail(): void {
    this.state = State.Failed;
    this.chunks = [];
    this.first = 0;
    this.offset = 0;
    this.available = 0;
  }
}

const EMPTY_HEADER: Header = Object.freeze(Object.create(null));

/**
 * Parses a received header text: UTF-8, pairs joined by `;`, each split at its first `:`;
 * exactly one decimal `CL`, which is taken out of the returned header.
 * @throws ProtocolError
 */
export function parseHeader(bytes: Buffer, maxContentBytes = DEFAULT_MAX_CONTENT_BYTES): { header: Header; contentLength: number } {
  if (!isUtf8(bytes)) {
    throw new ProtocolError(ErrorCode.InvalidUtf8, 'header text is not valid UTF-8');
  }
  const text = bytes.toString('utf8');
  const header: Record<string, string> = Object.create(null);
  let contentLength = -1;
  let start = 0;
  for (;;) {
    let end = text.indexOf(';', start);
    if (end === -1) end = text.length;
    const colon = text.indexOf(':', start);
    if (colon === -1 || colon > end) {
      throw new ProtocolError(
        ErrorCode.MalformedPair,
        `header pair ${JSON.stringify(shorten(text.slice(start, end)))} has no ":"`,
      );
    }
    const key = text.slice(start, colon);
    const value = text.slice(colon + 1, end);
    if (key === CONTENT_LENGTH_KEY) {
      if (contentLength !== -1) {
        throw new ProtocolError(ErrorCode.ContentLengthRepeated, 'header has more than one CL pair');
      }
      contentLength = contentLengthOf(value, maxContentBytes);
    } else {
      header[key] = value;
    }
    if (end === text.length) break;
    start = end + 1;
  }
  if (contentLength === -1) {
    throw new ProtocolError(ErrorCode.ContentLengthMissing, 'header has no CL (content length) pair');
  }
  return { header, contentLength };
}

function contentLengthOf(value: string, max: number): number {
  if (!DECIMAL.test(value)) {
    throw new ProtocolError(ErrorCode.ContentLengthInvalid, `CL ${JSON.stringify(shorten(value))} is not a decimal number`);
  }
  const n = Number(value);
  if (n > max) {
    throw new ProtocolError(
      ErrorCode.ContentTooLarge,
      `frame announces ${value} content bytes; maxContentBytes is ${max}`,
    );
  }
  return n;
}

function shorten(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
