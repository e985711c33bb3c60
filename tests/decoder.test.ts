import { randomBytes } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { FrameDecoder, encodeFrame, parseHeader, type DecoderOptions, type HeaderInput, type Message } from '../lib/protocol/index.js';
import { ErrorCode, InvalidOptionError, ProtocolError } from '../lib/errors.js';

interface Plain {
  header: Record<string, string>;
  content: string;
}

/** A message as a plain value: the header on an ordinary object, the content in hex. */
const plain = (m: Message): Plain => ({ header: { ...m.header }, content: m.content.toString('hex') });

const frameBytes = (header: HeaderInput, content?: Uint8Array): Buffer => Buffer.concat(encodeFrame(header, content));

/** A frame from raw header bytes, bypassing the encoder's checks. */
const rawFrame = (header: string | Buffer, content: Buffer = Buffer.alloc(0)): Buffer => {
  const text = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16LE(text.length, 0);
  return Buffer.concat([prefix, text, content]);
};

/** Pushes the chunks in order and collects what the decoder delivers. */
const decode = (chunks: Uint8Array[], options?: DecoderOptions, decoder = new FrameDecoder(options)): Plain[] => {
  const out: Plain[] = [];
  for (const chunk of chunks) decoder.push(chunk, (m) => out.push(plain(m)));
  return out;
};

const rejects = (t: ExecutionContext, code: ErrorCode, chunks: Uint8Array[], options?: DecoderOptions) => {
  const error = t.throws(() => decode(chunks, options), { instanceOf: ProtocolError });
  t.is(error?.code, code);
  t.is(error?.name, 'ProtocolError');
};

const broadcastContent = Buffer.from('Stan,127.0.0.1,63330');

// Reference §1 byte vectors.

test('decodes the empty frame to an empty header and no content', (t) => {
  t.deepEqual(decode([Buffer.from('0400434c3a30', 'hex')]), [{ header: {}, content: '' }]);
});

test('decodes the ID and Port report with every value as a string', (t) => {
  const bytes = Buffer.concat([Buffer.from('1700', 'hex'), Buffer.from('CL:0;ID:Stan;Port:63330')]);
  t.deepEqual(decode([bytes]), [{ header: { ID: 'Stan', Port: '63330' }, content: '' }]);
});

test('decodes the connection check', (t) => {
  const bytes = Buffer.concat([Buffer.from('0d00', 'hex'), Buffer.from('CL:0;TP:Check')]);
  t.deepEqual(decode([bytes]), [{ header: { TP: 'Check' }, content: '' }]);
});

test('decodes a broadcast with an empty value and its 20 bytes of content', (t) => {
  const bytes = Buffer.concat([Buffer.from('1000', 'hex'), Buffer.from('CL:20;Broadcast:'), broadcastContent]);
  t.deepEqual(decode([bytes]), [{ header: { Broadcast: '' }, content: broadcastContent.toString('hex') }]);
});

test('leaves CL out of the received header', (t) => {
  const messages: Message[] = [];
  new FrameDecoder().push(rawFrame('CL:3;a:b', Buffer.from('xyz')), (m) => messages.push(m));
  t.is(messages.length, 1);
  t.false('CL' in messages[0]!.header);
  t.deepEqual(Object.keys(messages[0]!.header), ['a']);
});

test('delivers empty content as a zero-length Buffer', (t) => {
  const messages: Message[] = [];
  new FrameDecoder().push(rawFrame('CL:0'), (m) => messages.push(m));
  t.true(Buffer.isBuffer(messages[0]!.content));
  t.is(messages[0]!.content.length, 0);
});

test('splits a pair at its first colon, so a value may hold colons', (t) => {
  t.deepEqual(decode([rawFrame('CL:0;addr:127.0.0.1:5000;t:12:30:00')]), [
    { header: { addr: '127.0.0.1:5000', t: '12:30:00' }, content: '' },
  ]);
});

test('accepts an empty value', (t) => {
  t.deepEqual(decode([rawFrame('CL:0;a:;b:')]), [{ header: { a: '', b: '' }, content: '' }]);
});

test('accepts CL in any position of the received header', (t) => {
  t.deepEqual(decode([rawFrame('a:1;CL:2;b:2', Buffer.from('hi'))]), [
    { header: { a: '1', b: '2' }, content: Buffer.from('hi').toString('hex') },
  ]);
});

test('treats a received __proto__ key as an ordinary key, and inherits no keys', (t) => {
  const messages: Message[] = [];
  new FrameDecoder().push(rawFrame('CL:0;__proto__:x;constructor:y'), (m) => messages.push(m));
  const header = messages[0]!.header;
  // Nothing is inherited: the prototype is an empty object with no prototype.
  t.is(Object.getPrototypeOf(Object.getPrototypeOf(header)), null);
  t.deepEqual(Object.getOwnPropertyNames(Object.getPrototypeOf(header)), []);
  t.false('toString' in header);
  t.true(Object.prototype.hasOwnProperty.call(header, '__proto__'));
  t.is(header['__proto__'], 'x');
  t.is(header['constructor'], 'y');
  t.deepEqual(Object.keys(header), ['__proto__', 'constructor']);
  t.is(({} as Record<string, unknown>)['x'], undefined);
});

// Chunking.

const stream = Buffer.concat([
  frameBytes({}),
  frameBytes({ ID: 'Stan', Port: 63330 }),
  frameBytes({ TP: 'Check' }),
  frameBytes({ Broadcast: '' }, broadcastContent),
  frameBytes({ 名前: 'é🙂', n: -1 }, Buffer.from([0, 0xff, 0x0a, 0x3b])),
  frameBytes({ info: 'last' }),
]);
const streamMessages = decode([stream]);

test('decodes many frames in one chunk', (t) => {
  t.deepEqual(streamMessages, [
    { header: {}, content: '' },
    { header: { ID: 'Stan', Port: '63330' }, content: '' },
    { header: { TP: 'Check' }, content: '' },
    { header: { Broadcast: '' }, content: broadcastContent.toString('hex') },
    { header: { 名前: 'é🙂', n: '-1' }, content: '00ff0a3b' },
    { header: { info: 'last' }, content: '' },
  ]);
});

test('decodes a frame fed one byte at a time, delivering it on the last byte', (t) => {
  const bytes = frameBytes({ Broadcast: '' }, broadcastContent);
  const decoder = new FrameDecoder();
  const out: Plain[] = [];
  for (let i = 0; i < bytes.length; i++) {
    decoder.push(bytes.subarray(i, i + 1), (m) => out.push(plain(m)));
    t.is(out.length, i === bytes.length - 1 ? 1 : 0);
  }
  t.deepEqual(out, [{ header: { Broadcast: '' }, content: broadcastContent.toString('hex') }]);
});

test('decodes a stream of frames fed one byte at a time', (t) => {
  const chunks = [...stream].map((byte) => Uint8Array.of(byte));
  t.deepEqual(decode(chunks), streamMessages);
});

test('decodes the same messages whatever offset splits the stream in two', (t) => {
  for (let i = 0; i <= stream.length; i++) {
    t.deepEqual(decode([stream.subarray(0, i), stream.subarray(i)]), streamMessages, `split at ${i}`);
  }
});

test('decodes the same messages when the stream is split in three at many offsets', (t) => {
  for (let i = 0; i <= stream.length; i += 3) {
    for (let j = i; j <= stream.length; j += 5) {
      const parts = [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)];
      t.deepEqual(decode(parts), streamMessages, `split at ${i} and ${j}`);
    }
  }
});

test('ignores empty chunks', (t) => {
  const empty = Buffer.alloc(0);
  t.deepEqual(decode([empty, stream.subarray(0, 5), empty, stream.subarray(5), empty]), streamMessages);
});

test('accepts Uint8Array chunks that are views into a larger buffer', (t) => {
  const backing = new Uint8Array(stream.length + 8);
  backing.set(stream, 4);
  const view = new Uint8Array(backing.buffer, 4, stream.length);
  t.deepEqual(decode([view]), streamMessages);
});

test('delivers the messages completed by a chunk before throwing on a malformed frame in it', (t) => {
  const out: Plain[] = [];
  const decoder = new FrameDecoder();
  const error = t.throws(
    () => decoder.push(Buffer.concat([frameBytes({ a: '1' }), rawFrame('CL:0;broken')]), (m) => out.push(plain(m))),
    { instanceOf: ProtocolError },
  );
  t.is(error?.code, ErrorCode.MalformedPair);
  t.deepEqual(out, [{ header: { a: '1' }, content: '' }]);
});

// Content limit.

test('accepts content of exactly maxContentBytes', (t) => {
  const bytes = frameBytes({ Broadcast: '' }, broadcastContent);
  t.deepEqual(decode([bytes], { maxContentBytes: 20 }), [
    { header: { Broadcast: '' }, content: broadcastContent.toString('hex') },
  ]);
});

test('refuses content one byte over maxContentBytes', (t) => {
  rejects(t, ErrorCode.ContentTooLarge, [frameBytes({}, Buffer.alloc(21))], { maxContentBytes: 20 });
});

test('refuses oversized content from the header alone, before any content byte arrives', (t) => {
  const [head] = encodeFrame({ Broadcast: '' }, Buffer.alloc(21));
  rejects(t, ErrorCode.ContentTooLarge, [head!], { maxContentBytes: 20 });
});

test('refuses a CL too large for a JavaScript number without holding its bytes', (t) => {
  rejects(t, ErrorCode.ContentTooLarge, [rawFrame('CL:99999999999999999999999')]);
});

test('allows only empty content when maxContentBytes is 0', (t) => {
  t.deepEqual(decode([frameBytes({ a: '1' })], { maxContentBytes: 0 }), [{ header: { a: '1' }, content: '' }]);
  rejects(t, ErrorCode.ContentTooLarge, [rawFrame('CL:1')], { maxContentBytes: 0 });
});

test('refuses an unusable maxContentBytes at construction', (t) => {
  for (const max of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    const error = t.throws(() => new FrameDecoder({ maxContentBytes: max }), { instanceOf: InvalidOptionError });
    t.is(error?.code, ErrorCode.InvalidOption);
  }
});

// Malformed input.

test('refuses a header that is not valid UTF-8', (t) => {
  rejects(t, ErrorCode.InvalidUtf8, [rawFrame(Buffer.concat([Buffer.from('CL:0;a:'), Buffer.from([0xff])]))]);
  rejects(t, ErrorCode.InvalidUtf8, [rawFrame(Buffer.concat([Buffer.from('CL:0;a:'), Buffer.from([0xc3])]))]);
  rejects(t, ErrorCode.InvalidUtf8, [rawFrame(Buffer.concat([Buffer.from('CL:0;a:'), Buffer.from([0xed, 0xa0, 0x80])]))]);
});

test('refuses a pair without a colon', (t) => {
  rejects(t, ErrorCode.MalformedPair, [rawFrame('CL:0;ID')]);
  rejects(t, ErrorCode.MalformedPair, [rawFrame('ID;CL:0')]);
});

test('refuses a header with a trailing semicolon', (t) => {
  rejects(t, ErrorCode.MalformedPair, [rawFrame('CL:0;')]);
});

test('refuses a zero-length header, however the prefix is split', (t) => {
  rejects(t, ErrorCode.MalformedPair, [Buffer.from([0, 0, 4, 0])]);
  rejects(t, ErrorCode.MalformedPair, [Buffer.from([0, 0])]);
  rejects(t, ErrorCode.MalformedPair, [Buffer.from([0]), Buffer.from([0])]);
});

test('refuses a header without CL', (t) => {
  rejects(t, ErrorCode.ContentLengthMissing, [rawFrame('ID:Stan')]);
  rejects(t, ErrorCode.ContentLengthMissing, [rawFrame('cl:0')]);
});

test('refuses a header with CL twice', (t) => {
  rejects(t, ErrorCode.ContentLengthRepeated, [rawFrame('CL:0;CL:0')]);
  rejects(t, ErrorCode.ContentLengthRepeated, [rawFrame('CL:0;a:b;CL:5')]);
});

test('refuses a CL that is not a decimal number', (t) => {
  for (const cl of ['abc', '-1', '1.5', '', ' 1', '1 ', '+1', '0x10', '1e3', '١']) {
    rejects(t, ErrorCode.ContentLengthInvalid, [rawFrame(`CL:${cl}`)]);
  }
});

test('refuses every further input after an error', (t) => {
  const decoder = new FrameDecoder();
  t.throws(() => decoder.push(rawFrame('ID:Stan'), () => {}), { instanceOf: ProtocolError });
  t.is(decoder.bufferedBytes, 0);
  let delivered = 0;
  t.throws(() => decoder.push(frameBytes({ a: '1' }), () => delivered++), { instanceOf: ProtocolError });
  t.throws(() => decoder.push(Buffer.alloc(0), () => delivered++), { instanceOf: ProtocolError });
  t.is(delivered, 0);
  t.notThrows(() => decoder.end());
});

test('parses a header text on its own, with CL taken out', (t) => {
  const { header, contentLength } = parseHeader(Buffer.from('CL:12;ID:Stan;Port:63330'));
  t.is(contentLength, 12);
  t.deepEqual({ ...header }, { ID: 'Stan', Port: '63330' });
  t.throws(() => parseHeader(Buffer.from('CL:13'), 12), { instanceOf: ProtocolError, message: /13/ });
});

// End of input.

test('throws a truncated-frame error when input ends inside the prefix, header or content', (t) => {
  const bytes = frameBytes({ Broadcast: '' }, broadcastContent);
  for (const cut of [1, 2, 5, 2 + 16, bytes.length - 1]) {
    const decoder = new FrameDecoder();
    decoder.push(bytes.subarray(0, cut), () => {});
    const error = t.throws(() => decoder.end(), { instanceOf: ProtocolError });
    t.is(error?.code, ErrorCode.TruncatedFrame, `cut at ${cut}`);
  }
});

test('ends quietly at a frame boundary', (t) => {
  t.notThrows(() => new FrameDecoder().end());
  const decoder = new FrameDecoder();
  decoder.push(stream, () => {});
  t.true(decoder.atBoundary);
  t.notThrows(() => decoder.end());
});

test('counts the bytes received and not yet delivered', (t) => {
  const bytes = frameBytes({ Broadcast: '' }, broadcastContent);
  const decoder = new FrameDecoder();
  t.is(decoder.bufferedBytes, 0);
  for (let i = 0; i < bytes.length - 1; i++) {
    decoder.push(bytes.subarray(i, i + 1), () => {});
    t.is(decoder.bufferedBytes, i + 1);
    t.false(decoder.atBoundary);
  }
  decoder.push(Buffer.concat([bytes.subarray(-1), bytes.subarray(0, 3)]), () => {});
  t.is(decoder.bufferedBytes, 3);
  decoder.push(bytes.subarray(3), () => {});
  t.is(decoder.bufferedBytes, 0);
  t.true(decoder.atBoundary);
});

// Roundtrip.

test('decodes what the encoder wrote, for assorted headers and contents', (t) => {
  const cases: Array<[HeaderInput, Uint8Array | undefined]> = [
    [{}, undefined],
    [{ ID: 'Stan', Port: 63330 }, undefined],
    [{ Broadcast: '' }, broadcastContent],
    [{ info: 'hello, world' }, Buffer.from('a;b:c\n')],
    [{ 名前: 'é🙂', negative: -7, zero: 0 }, new Uint8Array([1, 2, 3])],
    [{ big: Number.MAX_SAFE_INTEGER, 'key with spaces': 'value with spaces' }, Buffer.alloc(70_000, 0xab)],
    [{ k: 'x'.repeat(65_535 - 'CL:0;k:'.length) }, undefined],
  ];
  const chunks = cases.map(([header, content]) => frameBytes(header, content));
  const want = cases.map(([header, content]) => ({
    header: Object.fromEntries(Object.entries(header).map(([k, v]) => [k, String(v)])),
    content: Buffer.from(content ?? []).toString('hex'),
  }));
  t.deepEqual(decode(chunks), want);
  t.deepEqual(decode([Buffer.concat(chunks)]), want);
});

test('large contents arrive whole however their chunks fall, whether gathered or filled as tiny reads come', (t) => {
  const sizes = [256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 1024 * 1024 + 3];
  // Random bytes: a chunk copied to the wrong place inside a content cannot go unnoticed.
  const contents = sizes.map((size) => randomBytes(size));
  const stream = Buffer.concat(contents.flatMap((content, i) => [frameBytes({ n: i }, content), frameBytes({ small: i })]));
  // Pieces of 500 bytes trickle: those contents are filled as they come, the others gathered.
  for (const piece of [1 << 16, 65_537, 100_003, 7_919, 500]) {
    const decoder = new FrameDecoder({ maxContentBytes: 2 << 20 });
    const got: Message[] = [];
    let heldMax = 0;
    for (let at = 0; at < stream.length; at += piece) {
      decoder.push(stream.subarray(at, at + piece), (m) => got.push(m));
      heldMax = Math.max(heldMax, decoder.bufferedBytes);
    }
    t.true(decoder.atBoundary);
    t.is(got.length, 2 * sizes.length);
    for (const [i, content] of contents.entries()) {
      t.is(got[2 * i]!.header['n'], String(i));
      t.true(got[2 * i]!.content.equals(content), `content ${i} in pieces of ${piece}`);
      t.is(got[2 * i + 1]!.header['small'], String(i));
    }
    t.true(heldMax < 1024 * 1024 + 3 + 2 * piece + 100, `held at most one frame and a piece: ${heldMax}`);
  }
});

/** The decoder's private list of received chunks, from `first` on still unread (a peek for the memory bounds). */
function chunkList(decoder: FrameDecoder): { chunks: Buffer[]; first: number } {
  return decoder as unknown as { chunks: Buffer[]; first: number };
}

/** How many received chunks the decoder still holds. */
function heldChunks(decoder: FrameDecoder): number {
  const { chunks, first } = chunkList(decoder);
  return chunks.length - first;
}

test('a content that trickles in tiny reads is copied as they come, so it never holds more than 129 of them', (t) => {
  const content = randomBytes(300_000);
  const frame = frameBytes({ slow: 1 }, content);
  const decoder = new FrameDecoder();
  const got: Message[] = [];
  let mostHeld = 0;
  for (let at = 0; at < frame.length; at += 100) {
    decoder.push(frame.subarray(at, at + 100), (m) => got.push(m));
    mostHeld = Math.max(mostHeld, heldChunks(decoder));
  }
  t.is(got.length, 1);
  t.true(got[0]!.content.equals(content));
  t.true(mostHeld <= 129, `held ${mostHeld} chunks`);
  t.true(decoder.atBoundary);
});

test('a content that comes in a few large reads is gathered and copied once at its end', (t) => {
  const content = randomBytes(1 << 20);
  const frame = frameBytes({ fast: 1 }, content);
  const decoder = new FrameDecoder();
  const got: Message[] = [];
  for (let at = 0; at < frame.length - (1 << 16); at += 1 << 16) decoder.push(frame.subarray(at, at + (1 << 16)), () => t.fail('not whole yet'));
  t.is(heldChunks(decoder), 16, 'every read is still held, none copied yet');
  decoder.push(frame.subarray(16 << 16), (m) => got.push(m));
  t.is(heldChunks(decoder), 0);
  t.true(got[0]!.content.equals(content));
});

test('a long header that trickles in one byte at a time is held in one merged chunk, not one per byte', (t) => {
  const value = 'v'.repeat(60_000);
  const frame = frameBytes({ long: value }, Buffer.from('body'));
  const decoder = new FrameDecoder();
  const got: Message[] = [];
  let mostHeld = 0;
  for (let at = 0; at < frame.length; at++) {
    decoder.push(frame.subarray(at, at + 1), (m) => got.push(m));
    mostHeld = Math.max(mostHeld, heldChunks(decoder));
  }
  t.is(got.length, 1);
  t.is(got[0]!.header['long'], value);
  t.is(got[0]!.content.toString(), 'body');
  t.true(mostHeld <= 129, `held ${mostHeld} chunks`);
  t.is(decoder.bufferedBytes, 0);
});

test('a content read in small but not tiny pieces is still gathered, so the reads are copied once', (t) => {
  const content = randomBytes(1 << 20);
  const frame = frameBytes({ medium: 1 }, content);
  const decoder = new FrameDecoder();
  const got: Message[] = [];
  const piece = 4096;
  const last = frame.length - 1;
  for (let at = 0; at < last; at += piece) decoder.push(frame.subarray(at, Math.min(at + piece, last)), () => t.fail('not whole yet'));
  t.true(heldChunks(decoder) > 250, `held ${heldChunks(decoder)} chunks`);
  decoder.push(frame.subarray(last), (m) => got.push(m));
  t.true(got[0]!.content.equals(content));
});

test('a content over 8 MiB is filled once 8 MiB of it has arrived, so the end never holds it twice', (t) => {
  const content = randomBytes(9 << 20);
  const frame = frameBytes({ huge: 1 }, content);
  const decoder = new FrameDecoder({ maxContentBytes: 16 << 20 });
  const got: Message[] = [];
  let mostHeld = 0;
  for (let at = 0; at < frame.length; at += 1 << 16) {
    decoder.push(frame.subarray(at, at + (1 << 16)), (m) => got.push(m));
    mostHeld = Math.max(mostHeld, heldChunks(decoder));
  }
  t.true(got[0]!.content.equals(content));
  t.true(mostHeld <= 130, `held ${mostHeld} chunks of 64 KiB`);
});

test('a connection that streams frames which never end where a read ends keeps a short list of chunks', (t) => {
  const frame = frameBytes({ n: 1 }, Buffer.alloc(100_003, 1));
  const stream = Buffer.concat(Array.from({ length: 300 }, () => frame));
  const decoder = new FrameDecoder();
  let got = 0;
  let longest = 0;
  for (let at = 0; at < stream.length; at += 1 << 16) {
    decoder.push(stream.subarray(at, at + (1 << 16)), () => got++);
    longest = Math.max(longest, chunkList(decoder).chunks.length);
  }
  t.is(got, 300);
  t.true(longest <= 40, `the list of chunks reached ${longest} slots`);
});

test('input that ends while a large content is being gathered or filled names the bytes still missing', (t) => {
  const frame = frameBytes({ big: 1 }, Buffer.alloc(300_000, 9));
  for (const piece of [200_000, 1_000]) {
    const decoder = new FrameDecoder();
    for (let at = 0; at < 200_000; at += piece) decoder.push(frame.subarray(at, at + piece), () => t.fail('nothing is whole yet'));
    t.is(decoder.bufferedBytes, 200_000, `in pieces of ${piece}`);
    const error = t.throws(() => decoder.end(), { instanceOf: ProtocolError });
    t.is(error?.code, ErrorCode.TruncatedFrame);
    t.regex(error!.message, new RegExp(`${frame.length - 200_000} byte\\(s\\) short`));
  }
});

test('a content announced large and trickled in tiny segments holds about what arrived, not what was announced', (t) => {
  const announced = 64 * 1024 * 1024 - 1;
  const head = rawFrame(`CL:${announced}`);
  const decoders = Array.from({ length: 20 }, () => new FrameDecoder());
  const before = process.memoryUsage().arrayBuffers;
  for (const decoder of decoders) {
    decoder.push(head, () => t.fail('nothing is complete'));
    // 2,000 one-byte segments, then 256 KiB more in 1 KiB pieces: a trickle, then a slow stream.
    for (let i = 0; i < 2000; i++) decoder.push(Buffer.of(i & 0xff), () => {});
    for (let i = 0; i < 256; i++) decoder.push(Buffer.alloc(1024, 7), () => {});
  }
  const held = process.memoryUsage().arrayBuffers - before;
  const arrived = 20 * (2000 + 256 * 1024);
  t.true(held < 4 * arrived, `20 decoders hold ${held} bytes for ${arrived} received (announced: ${20 * announced})`);
  for (const decoder of decoders) t.is(decoder.bufferedBytes, head.length + 2000 + 256 * 1024);
});

test('a content filled as it grows arrives whole and exact, however it was cut', (t) => {
  const content = randomBytes(300 * 1024);
  const frame = frameBytes({ k: 'v' }, content);
  const pieces: Buffer[] = [];
  // Tiny pieces first (a trickle switches to filling), then larger ones of odd sizes.
  let at = 0;
  for (let i = 0; i < 400 && at < frame.length; i++) pieces.push(frame.subarray(at, (at += 1 + (i % 3))));
  for (let size = 1000; at < frame.length; size = (size * 7) % 65_521 || 1) pieces.push(frame.subarray(at, (at += size)));
  const [message] = decode(pieces);
  t.is(message?.content, content.toString('hex'));
});
