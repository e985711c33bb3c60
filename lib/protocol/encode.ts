/**
 * The encoder: a pure function from a message to the buffers of its frame. It refuses, before any
 * byte exists, whatever the seed's decoder could not read back (reference §1 and defect 3).
 * Free text that may hold `:` or `;` belongs in the content, not in a header value.
 */
import { ErrorCode, FrameEncodeError, describeValue } from '../errors.js';
import { CONTENT_LENGTH_KEY, MAX_HEADER_BYTES, PREFIX_BYTES } from './constants.js';
import type { Frame, HeaderInput } from './message.js';

const EMPTY = Buffer.alloc(0);
const SEPARATOR = /[:;]/;
/** Half of a surrogate pair, alone: not well-formed text; written as UTF-8 it would become U+FFFD. */
const LONE_SURROGATE = /\p{Cs}/u;
const CL_PREFIX = CONTENT_LENGTH_KEY + ':';
const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Encodes one message into the buffers of its frame: `[prefix + header text]`, then the content
 * when there is any (never copied).
 *
 * @param header keys and values (strings, or safe integers written in decimal); `{}` is allowed.
 * @param content optional bytes; omitted, `undefined` or empty means no content.
 * @throws FrameEncodeError with `ERR_HEADER_KEY_INVALID`, `ERR_HEADER_VALUE_INVALID`,
 *   `ERR_HEADER_TOO_LARGE` or `ERR_CONTENT_INVALID`.
 * @example
 * encodeFrame({ ID: 'Stan', Port: 63330 }) // [<17 00 "CL:0;ID:Stan;Port:63330">]
 */
export function encodeFrame(header: HeaderInput, content?: Uint8Array): Frame {
  const body = frameContent(content);
  const text = frameHeadText(header, body.length, size);
  const head = Buffer.allocUnsafe(PREFIX_BYTES + size.bytes);
  writeFrameHead(head, 0, text, size.bytes);
  return body.length === 0 ? [head] : [head, body];
}

/** Where `frameHeadText` puts the UTF-8 length of the text it returns (counted once, not again). */
export interface HeadSize {
  bytes: number;
}

const size: HeadSize = { bytes: 0 };

/**
 * The first half of `encodeFrame`, for a writer that places frame heads itself (a Messenger
 * gathers the heads of a tick in one buffer): the checked header text, `CL:<n>;key:value;...`,
 * with its UTF-8 length put in `out.bytes`.
 * @throws FrameEncodeError as `encodeFrame` does
 */
export function frameHeadText(header: HeaderInput, contentLength: number, out: HeadSize): string {
  // The quick path refuses to guess: at anything unusual it gives up and headerText, which checks
  // pair by pair, throws the error it would have thrown.
  let text = quickHeaderText(header, contentLength) ?? headerText(header, contentLength);
  let textBytes = Buffer.byteLength(text, 'utf8');
  // Only text with non-ASCII characters can hold a lone surrogate; headerText names the pair.
  if (textBytes !== text.length && LONE_SURROGATE.test(text)) {
    text = headerText(header, contentLength);
    textBytes = Buffer.byteLength(text, 'utf8');
  }
  if (textBytes > MAX_HEADER_BYTES) {
    throw new FrameEncodeError(
      ErrorCode.HeaderTooLarge,
      `header text is ${textBytes} bytes; the 2-byte prefix allows at most ${MAX_HEADER_BYTES}`,
    );
  }
  out.bytes = textBytes;
  return text;
}

/** Writes the 2-byte prefix and `text` (of `textBytes` UTF-8 bytes) at `offset` of `target`. */
export function writeFrameHead(target: Buffer, offset: number, text: string, textBytes: number): void {
  target[offset] = textBytes & 0xff;
  target[offset + 1] = textBytes >>> 8;
  // As many bytes as characters means all ASCII, which latin1 writes as UTF-8 would, only faster.
  target.write(text, offset + PREFIX_BYTES, textBytes, textBytes === text.length ? 'latin1' : 'utf8');
}

/**
 * Keys already found valid: a program sends the same few keys again and again, so each is checked
 * once. Bounded, so that a program that makes up keys cannot grow it without end.
 */
const validKeys = new Set<string>();
const MAX_VALID_KEYS = 1024;

/** The header text when every pair is plainly valid; undefined at the first doubt. */
function quickHeaderText(header: HeaderInput, contentLength: number): string | undefined {
  if (header === null || typeof header !== 'object' || Array.isArray(header)) return undefined;
  let text = CL_PREFIX + contentLength;
  for (const key in header) {
    if (!hasOwn.call(header, key)) continue;
    if (!validKeys.has(key)) {
      if (key.length === 0 || key === CONTENT_LENGTH_KEY || hasSeparator(key)) return undefined;
      if (validKeys.size < MAX_VALID_KEYS) validKeys.add(key);
    }
    const value = header[key];
    if (typeof value === 'string') {
      if (value.indexOf(':') !== -1 || value.indexOf(';') !== -1) return undefined;
      text += ';' + key + ':' + value;
    } else if (typeof value === 'number' && Number.isSafeInteger(value)) {
      text += ';' + key + ':' + value;
    } else {
      return undefined;
    }
  }
  return text;
}

/** The header text of a message, `CL:<n>;key:value;...`, after validating every pair. */
export function headerText(header: HeaderInput, contentLength: number): string {
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new FrameEncodeError(ErrorCode.HeaderValueInvalid, `header must be a plain object, not ${describeValue(header)}`);
  }
  let text = CONTENT_LENGTH_KEY + ':' + contentLength;
  for (const key in header) {
    if (!hasOwn.call(header, key)) continue;
    checkKey(key);
    text += ';' + key + ':' + valueText(key, header[key]);
  }
  return text;
}

function checkKey(key: string): void {
  if (key.length === 0) {
    throw new FrameEncodeError(ErrorCode.HeaderKeyInvalid, 'header key is empty');
  }
  if (key === CONTENT_LENGTH_KEY) {
    throw new FrameEncodeError(ErrorCode.HeaderKeyInvalid, 'header key "CL" is reserved: the library writes the content length');
  }
  if (hasSeparator(key)) {
    throw new FrameEncodeError(
      ErrorCode.HeaderKeyInvalid,
      `header key ${describeValue(key)} holds ":" or ";", which the wire format cannot carry`,
    );
  }
  if (LONE_SURROGATE.test(key)) {
    throw new FrameEncodeError(
      ErrorCode.HeaderKeyInvalid,
      `header key ${describeValue(key)} holds half of a surrogate pair: not well-formed text, it would reach the peer as U+FFFD`,
    );
  }
}

function valueText(key: string, value: unknown): string {
  if (typeof value === 'string') {
    if (hasSeparator(value)) {
      throw new FrameEncodeError(
        ErrorCode.HeaderValueInvalid,
        `header ${key}: value ${describeValue(value)} holds ":" or ";", which the wire format cannot carry; put free text in the content`,
      );
    }
    if (LONE_SURROGATE.test(value)) {
      throw new FrameEncodeError(
        ErrorCode.HeaderValueInvalid,
        `header ${key}: value ${describeValue(value)} holds half of a surrogate pair: not well-formed text, it would reach the peer as U+FFFD; send bytes in the content`,
      );
    }
    return value;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value)) {
    return String(value);
  }
  throw new FrameEncodeError(
    ErrorCode.HeaderValueInvalid,
    `header ${key}: value ${describeValue(value)} is not a string or a safe integer`,
  );
}

/** One pass over the text, not one per separator. */
function hasSeparator(s: string): boolean {
  return SEPARATOR.test(s);
}

/**
 * A message's content as a Buffer over the same memory (never a copy); empty when there is none.
 * @throws FrameEncodeError `ERR_CONTENT_INVALID` for anything but bytes
 */
export function frameContent(content: unknown): Buffer {
  if (content === undefined || content === null) return EMPTY;
  if (Buffer.isBuffer(content)) return content;
  if (content instanceof Uint8Array) {
    return Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  }
  throw new FrameEncodeError(
    ErrorCode.ContentInvalid,
    `content must be bytes (Uint8Array or Buffer), not ${describeValue(content)}; encode text first, e.g. Buffer.from(text)`,
  );
}
