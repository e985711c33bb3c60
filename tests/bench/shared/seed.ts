/**
 * A minimal codec of the seed's wire format (reference §1), written for the benchmark: what a
 * careful programmer would write by hand with no validation and no abstractions. Reference (a)
 * streams it over `node:net`; ws and axon carry the same bytes in their own messages.
 */

/** A received header, as the seed keeps it: every value a string, `CL` included. */
export type SeedHeader = Record<string, string>;

export type OnFrame = (header: SeedHeader, content: Buffer) => void;

const EMPTY = Buffer.alloc(0);

/** The prefix and header text of a frame: `<u16 LE length>CL:<n>;key:value;...`. */
export function encodeHead(header: Readonly<Record<string, string | number>>, contentLength: number): Buffer {
  let text = 'CL:' + contentLength;
  for (const key in header) text += ';' + key + ':' + header[key];
  const length = Buffer.byteLength(text);
  const head = Buffer.allocUnsafe(2 + length);
  head.writeUInt16LE(length, 0);
  head.write(text, 2);
  return head;
}

/** Parses the header text in `bytes[start, end)`. */
export function parseHeader(bytes: Buffer, start: number, end: number): SeedHeader {
  const text = bytes.toString('utf8', start, end);
  const header: SeedHeader = {};
  let at = 0;
  for (;;) {
    let stop = text.indexOf(';', at);
    if (stop === -1) stop = text.length;
    const colon = text.indexOf(':', at);
    if (colon === -1 || colon > stop) throw new Error(`seed: malformed pair in ${JSON.stringify(text)}`);
    header[text.slice(at, colon)] = text.slice(colon + 1, stop);
    if (stop === text.length) return header;
    at = stop + 1;
  }
}

function contentLengthOf(header: SeedHeader): number {
  const n = Number(header['CL']);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`seed: bad CL ${JSON.stringify(header['CL'])}`);
  return n;
}

/** Parses one whole frame held in one buffer (a ws message); the content is a view. */
export function parseFrame(frame: Buffer): { header: SeedHeader; content: Buffer } {
  const end = 2 + frame.readUInt16LE(0);
  const header = parseHeader(frame, 2, end);
  const length = contentLengthOf(header);
  if (frame.length - end !== length) throw new Error(`seed: CL ${length} but ${frame.length - end} content bytes`);
  return { header, content: length === 0 ? EMPTY : frame.subarray(end) };
}

/**
 * A streaming decoder: chunks in, frames out. Content that lies in one chunk is delivered as a
 * view; content split over chunks is gathered and copied once. A prefix or header split over
 * chunks is completed byte-exactly, so a straddling frame never copies a whole chunk.
 */
export class SeedDecoder {
  private head: Buffer = EMPTY; // an unfinished prefix + header
  private header: SeedHeader | undefined; // set while content is being gathered
  private parts: Buffer[] = [];
  private missing = 0;

  constructor(private readonly onFrame: OnFrame) {}

  push(chunk: Buffer): void {
    let at = 0;
    if (this.header !== undefined) {
      at = Math.min(this.missing, chunk.length);
      this.parts.push(at === chunk.length ? chunk : chunk.subarray(0, at));
      this.missing -= at;
      if (this.missing > 0) return;
      const header = this.header;
      const parts = this.parts;
      this.header = undefined;
      this.parts = [];
      this.onFrame(header, parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    } else if (this.head.length > 0) {
      at = this.finishHead(chunk);
      if (at < 0) return;
    }
    this.scan(chunk, at);
  }

  /** Completes the straddling prefix + header from the chunk's start; -1 when the chunk ran out. */
  private finishHead(chunk: Buffer): number {
    let at = 0;
    for (;;) {
      const head = this.head;
      const want = (head.length < 2 ? 2 : 2 + head.readUInt16LE(0)) - head.length;
      if (want === 0) break;
      if (chunk.length - at < want) {
        this.head = Buffer.concat([head, chunk.subarray(at)]);
        return -1;
      }
      this.head = Buffer.concat([head, chunk.subarray(at, at + want)]);
      at += want;
    }
    const header = parseHeader(this.head, 2, this.head.length);
    this.head = EMPTY;
    return this.content(chunk, at, header);
  }

  /** Delivers the content at `at` or starts gathering it; returns where the next frame starts. */
  private content(chunk: Buffer, at: number, header: SeedHeader): number {
    const length = contentLengthOf(header);
    if (chunk.length - at >= length) {
      this.onFrame(header, length === 0 ? EMPTY : chunk.subarray(at, at + length));
      return at + length;
    }
    this.header = header;
    this.parts = [chunk.subarray(at)];
    this.missing = length - (chunk.length - at);
    return chunk.length;
  }

  private scan(chunk: Buffer, at: number): void {
    while (at < chunk.length) {
      if (chunk.length - at < 2) break;
      const end = at + 2 + (chunk[at]! | (chunk[at + 1]! << 8));
      if (end > chunk.length) break;
      at = this.content(chunk, end, parseHeader(chunk, at + 2, end));
      if (this.header !== undefined) return;
    }
    if (at < chunk.length) this.head = chunk.subarray(at);
  }
}
