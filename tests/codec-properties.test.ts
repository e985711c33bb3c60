/**
 * Properties of the codec, checked with fast-check over generated inputs: whatever the encoder
 * accepts comes back from the decoder as it went in, however the bytes are chunked; and the decoder
 * fed any bytes at all, in any chunks, only ever delivers messages or one `ProtocolError` with a
 * stable code, always returns, and reaches the same outcome whatever the chunking. A failing run
 * prints its seed and the shrunk input, so it can be replayed.
 */
import test from 'ava';
import fc from 'fast-check';
import { from, toArray } from 'rxjs';
import { ErrorCode, FrameEncodeError, ProtocolError, RxTcpHubError } from '../lib/errors.js';
import { FrameDecoder, decodeFrames, encodeFrame, type DecoderOptions, type HeaderInput, type Message } from '../lib/protocol/index.js';

/** Enough runs to find the edge cases, few enough for the file to take a few seconds. */
const RUNS = { numRuns: 300 };

/** The codes a decoder may fail with: every one a wire-format error of `lib/errors.ts`. */
const DECODER_CODES: ReadonlySet<string> = new Set([
  ErrorCode.InvalidUtf8,
  ErrorCode.MalformedPair,
  ErrorCode.ContentLengthMissing,
  ErrorCode.ContentLengthRepeated,
  ErrorCode.ContentLengthInvalid,
  ErrorCode.ContentTooLarge,
  ErrorCode.TruncatedFrame,
]);

/** A message as a plain value: header pairs in wire order, content in hex. */
type Plain = [pairs: Array<[string, string]>, content: string];

const plain = (m: Message): Plain => [Object.entries(m.header), m.content.toString('hex')];

/** What the decoder should give back for a header and content the encoder accepted. */
const expected = (header: HeaderInput, content: Uint8Array): Plain => [
  Object.entries(header).map(([key, value]) => [key, String(value)]),
  Buffer.from(content).toString('hex'),
];

// Generators

/** Text the encoder accepts in a key or a value: any code points (well-formed), with no ':' or ';'. */
const text = (minLength: number) =>
  fc
    .oneof(fc.string({ unit: 'binary', minLength, maxLength: 12 }), fc.string({ unit: 'grapheme-ascii', minLength, maxLength: 12 }))
    .map((s) => s.replace(/[:;]/g, '_'));

const key = text(1).filter((k) => k !== 'CL');

/** Strings, and safe integers (which come back as their decimal text). */
const value = fc.oneof(text(0), fc.maxSafeInteger(), fc.integer({ min: -1000, max: 1000 }));

/** A header the encoder accepts. `Object.fromEntries` makes even `__proto__` an own key. */
const header: fc.Arbitrary<HeaderInput> = fc
  .uniqueArray(fc.tuple(key, value), { selector: ([k]) => k, maxLength: 8 })
  .map((pairs) => Object.fromEntries(pairs));

const content = fc.uint8Array({ maxLength: 200 });

const messages = fc.array(fc.tuple(header, content), { minLength: 1, maxLength: 5 });

/** Where to cut the bytes: any positions, empty chunks included. */
const cuts = fc.array(fc.nat(), { maxLength: 24 });

/** Cuts `bytes` at the positions (taken modulo its length + 1). */
function chunk(bytes: Buffer, at: readonly number[]): Buffer[] {
  const positions = at.map((p) => p % (bytes.length + 1)).sort((x, y) => x - y);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const p of [...positions, bytes.length]) {
    chunks.push(bytes.subarray(start, p));
    start = p;
  }
  return chunks;
}

const frameBytes = (header: HeaderInput, content?: Uint8Array): Buffer => Buffer.concat(encodeFrame(header, content));

const prefixed = (text: Uint8Array): Buffer => {
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16LE(text.length, 0);
  return Buffer.concat([prefix, text]);
};

/** Bytes the decoder must survive: noise, frame-like noise, and valid streams broken here and there. */
const hostile: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  // A short header of any bytes, then anything.
  fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 80 })).map(([t, rest]) => Buffer.concat([prefixed(t), rest])),
  // Header text made of the format's own characters, so that pairs and CL values get parsed.
  fc
    .tuple(fc.string({ unit: fc.constantFrom('C', 'L', ':', ';', '0', '1', '9', 'a', '-', '+', ' ', 'é'), maxLength: 30 }), fc.uint8Array({ maxLength: 60 }))
    .map(([t, rest]) => Buffer.concat([prefixed(Buffer.from(t)), rest])),
  // Pairs of the format's own vocabulary: CL repeated, missing, negative, fractional, huge.
  fc
    .tuple(
      fc.array(
        fc
          .tuple(fc.constantFrom('CL', 'CL', 'a', '', 'é'), fc.constantFrom(':', ':', ':', ''), fc.constantFrom('0', '3', '12', '007', '-1', '1.5', '', 'x', '99999999999999999999'))
          .map(([k, colon, v]) => k + colon + v),
        { minLength: 1, maxLength: 4 },
      ),
      fc.uint8Array({ maxLength: 40 }),
    )
    .map(([pairs, rest]) => Buffer.concat([prefixed(Buffer.from(pairs.join(';'))), rest])),
  // Valid frames with bytes overwritten and the end cut off.
  fc
    .tuple(messages, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat())
    .map(([list, flips, cut]) => {
      const bytes = Buffer.concat(list.map(([h, c]) => frameBytes(h, c)));
      for (const [at, byte] of flips) bytes[at % bytes.length] = byte;
      return bytes.subarray(0, bytes.length - (cut % 4));
    }),
);

/** A decoder limit, or none: small ones make ERR_CONTENT_TOO_LARGE reachable. */
const limits: fc.Arbitrary<DecoderOptions> = fc.oneof(fc.constant({}), fc.nat(64).map((maxContentBytes) => ({ maxContentBytes })));

/** What decoding the chunks gave: the messages, then the code of the error it stopped on, if any. */
interface Outcome {
  readonly messages: Plain[];
  readonly code: string | undefined;
}

/**
 * Feeds the chunks, then ends the input. Anything thrown that is not a `ProtocolError` escapes and
 * fails the property; so does a decoder that accepts input after failing.
 */
function decode(chunks: readonly Uint8Array[], options: DecoderOptions = {}): Outcome {
  const decoder = new FrameDecoder(options);
  const messages: Plain[] = [];
  const deliver = (m: Message) => messages.push(plain(m));
  try {
    for (const c of chunks) decoder.push(c, deliver);
    decoder.end();
    return { messages, code: undefined };
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    const after = (() => {
      try {
        decoder.push(Buffer.from([0]), deliver);
        return undefined;
      } catch (again) {
        return again;
      }
    })();
    if (!(after instanceof ProtocolError) || after.code !== ErrorCode.TruncatedFrame) throw new Error('the decoder took input after it failed', { cause: after });
    return { messages, code: error.code };
  }
}

// Round trips

test('decode(encode(x)) is x for any header and content the encoder accepts, under any chunking', (t) => {
  fc.assert(
    fc.property(messages, cuts, (list, at) => {
      const bytes = Buffer.concat(list.map(([h, c]) => frameBytes(h, c)));
      const outcome = decode(chunk(bytes, at));
      t.deepEqual(outcome, { messages: list.map(([h, c]) => expected(h, c)), code: undefined });
    }),
    RUNS,
  );
});

test('a message fed to the decoder one byte at a time comes back whole', (t) => {
  fc.assert(
    fc.property(header, content, (h, c) => {
      const bytes = frameBytes(h, c);
      const oneByOne = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
      t.deepEqual(decode(oneByOne), { messages: [expected(h, c)], code: undefined });
    }),
    { numRuns: 100 },
  );
});

test('the decodeFrames operator gives back the messages of any chunked stream, then completes', (t) => {
  fc.assert(
    fc.property(messages, cuts, (list, at) => {
      const bytes = Buffer.concat(list.map(([h, c]) => frameBytes(h, c)));
      let got: Plain[] | undefined;
      from(chunk(bytes, at))
        .pipe(decodeFrames(), toArray())
        .subscribe({ next: (all) => (got = all.map(plain)), error: (error: unknown) => t.fail(String(error)) });
      t.deepEqual(got, list.map(([h, c]) => expected(h, c)));
    }),
    { numRuns: 100 },
  );
});

test('the encoder refuses a key or value with a colon or a semicolon, and a CL key, with a FrameEncodeError', (t) => {
  const separated = fc.tuple(text(0), fc.constantFrom(':', ';'), text(0)).map(([x, sep, y]) => x + sep + y);
  fc.assert(
    fc.property(fc.oneof(separated.map((k) => ({ [k]: 'v' })), separated.map((v) => ({ k: v })), fc.constant({ CL: 1 })), (bad) => {
      const error = t.throws(() => encodeFrame(bad), { instanceOf: FrameEncodeError });
      t.true(error?.code === ErrorCode.HeaderKeyInvalid || error?.code === ErrorCode.HeaderValueInvalid);
    }),
    { numRuns: 100 },
  );
});

test('the encoder refuses a key or value that is not well-formed UTF-16 rather than send other text', (t) => {
  const broken = fc.string({ unit: fc.constantFrom('a', '\uD800', '\uDBFF', '\uDC00'), minLength: 1, maxLength: 6 }).filter((s) => /\p{Cs}/u.test(s));
  fc.assert(
    fc.property(fc.oneof(broken.map((k) => ({ [k]: 'v' })), broken.map((v) => ({ k: v }))), (bad) => {
      t.throws(() => encodeFrame(bad), { instanceOf: FrameEncodeError });
    }),
    { numRuns: 50 },
  );
});

// Hostile input

test('the decoder fed arbitrary bytes in arbitrary chunks yields messages or one ProtocolError with a stable code, and nothing else', (t) => {
  fc.assert(
    fc.property(hostile, cuts, limits, (bytes, at, options) => {
      const outcome = decode(chunk(bytes, at), options);
      if (outcome.code !== undefined) t.true(DECODER_CODES.has(outcome.code), outcome.code);
      // The smallest frame is 6 bytes (prefix and "CL:0"): no message is made from nothing.
      t.true(outcome.messages.length <= Math.floor(bytes.length / 6));
      for (const [pairs, hex] of outcome.messages) {
        t.true(pairs.every(([k, v]) => typeof k === 'string' && typeof v === 'string' && k !== 'CL'));
        t.true(hex.length / 2 <= (options.maxContentBytes ?? Infinity));
      }
    }),
    { numRuns: 1000 },
  );
});

test('the outcome of decoding any bytes does not depend on how they are chunked', (t) => {
  fc.assert(
    fc.property(hostile, cuts, limits, (bytes, at, options) => {
      t.deepEqual(decode(chunk(bytes, at), options), decode([bytes], options));
    }),
    { numRuns: 500 },
  );
});

test('the decodeFrames operator delivers a decoding failure as an RxTcpHubError on the error channel, never as a throw', (t) => {
  fc.assert(
    fc.property(hostile, cuts, (bytes, at) => {
      let failure: unknown;
      let done = false;
      from(chunk(bytes, at))
        .pipe(decodeFrames(), toArray())
        .subscribe({ next: () => (done = true), error: (error: unknown) => (failure = error) });
      t.true(done !== (failure !== undefined), 'either it completed or it failed');
      if (failure !== undefined) {
        t.true(failure instanceof ProtocolError && failure instanceof RxTcpHubError);
        t.true(DECODER_CODES.has((failure as ProtocolError).code));
      }
    }),
    { numRuns: 300 },
  );
});
