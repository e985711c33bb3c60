import test, { type ExecutionContext } from 'ava';
import { encodeFrame, type HeaderInput } from '../lib/protocol/index.js';
import { ErrorCode, FrameEncodeError } from '../lib/errors.js';

/** The whole frame as one buffer. */
const wire = (header: HeaderInput, content?: Uint8Array): Buffer => Buffer.concat(encodeFrame(header, content));

/** A 2-byte little-endian prefix (given in hex) followed by a header text. */
const expected = (prefixHex: string, text: string, content: Buffer = Buffer.alloc(0)): Buffer =>
  Buffer.concat([Buffer.from(prefixHex, 'hex'), Buffer.from(text, 'utf8'), content]);

const refuses = (t: ExecutionContext, code: ErrorCode, run: () => unknown) => {
  const error = t.throws(run, { instanceOf: FrameEncodeError });
  t.is(error?.code, code);
  t.is(error?.name, 'FrameEncodeError');
};

// Reference §1 byte vectors.

test('encodes an empty header as the 6-byte frame CL:0', (t) => {
  const frame = encodeFrame({});
  t.is(frame.length, 1);
  t.deepEqual(frame[0], Buffer.from('0400434c3a30', 'hex'));
});

test('encodes an ID and Port report as in the reference', (t) => {
  t.deepEqual(wire({ ID: 'Stan', Port: 63330 }), expected('1700', 'CL:0;ID:Stan;Port:63330'));
});

test('encodes the connection check as in the reference', (t) => {
  t.deepEqual(wire({ TP: 'Check' }), expected('0d00', 'CL:0;TP:Check'));
});

test('encodes a broadcast with an empty value and 20 bytes of content as in the reference', (t) => {
  const content = Buffer.from('Stan,127.0.0.1,63330');
  t.is(content.length, 20);
  const frame = encodeFrame({ Broadcast: '' }, content);
  t.is(frame.length, 2);
  t.deepEqual(frame[0], expected('1000', 'CL:20;Broadcast:'));
  t.deepEqual(Buffer.concat(frame), expected('1000', 'CL:20;Broadcast:', content));
});

// Header text.

test('writes the pairs in insertion order after CL', (t) => {
  t.deepEqual(wire({ b: '1', a: '2', c: '3' }).subarray(2).toString(), 'CL:0;b:1;a:2;c:3');
  t.deepEqual(wire({ c: '3', a: '2', b: '1' }).subarray(2).toString(), 'CL:0;c:3;a:2;b:1');
});

test('writes integers in decimal', (t) => {
  const text = wire({ zero: 0, negative: -42, big: Number.MAX_SAFE_INTEGER, hexLiteral: 0xff }).subarray(2).toString();
  t.is(text, 'CL:0;zero:0;negative:-42;big:9007199254740991;hexLiteral:255');
});

test('counts a multi-byte UTF-8 header in bytes, not characters', (t) => {
  const text = 'CL:0;名前:é🙂';
  const bytes = wire({ 名前: 'é🙂' });
  t.is(bytes.readUInt16LE(0), Buffer.byteLength(text, 'utf8'));
  t.not(bytes.readUInt16LE(0), text.length);
  t.deepEqual(bytes, Buffer.concat([Buffer.from([Buffer.byteLength(text), 0]), Buffer.from(text)]));
});

test('writes the content length in decimal bytes', (t) => {
  const frame = encodeFrame({}, Buffer.alloc(300));
  t.is(frame[0]!.subarray(2).toString(), 'CL:300');
});

test('treats omitted, undefined and empty content as no content', (t) => {
  for (const content of [undefined, Buffer.alloc(0), new Uint8Array(0)]) {
    const frame = encodeFrame({ TP: 'Check' }, content);
    t.is(frame.length, 1);
    t.deepEqual(frame[0], expected('0d00', 'CL:0;TP:Check'));
  }
});

test('returns the content Buffer itself, not a copy', (t) => {
  const content = Buffer.from('payload');
  const frame = encodeFrame({ info: 'x' }, content);
  t.is(frame[1], content);
});

test('accepts Uint8Array content and shares its memory', (t) => {
  const backing = new Uint8Array([0, 1, 2, 3, 4, 5]);
  const content = backing.subarray(1, 5);
  const frame = encodeFrame({}, content);
  t.is(frame[0]!.subarray(2).toString(), 'CL:4');
  t.deepEqual([...frame[1]!], [1, 2, 3, 4]);
  backing[2] = 99;
  t.is(frame[1]![1], 99);
});

// Refusals.

test('refuses an empty key', (t) => {
  refuses(t, ErrorCode.HeaderKeyInvalid, () => encodeFrame({ '': 'x' }));
});

test('refuses the reserved key CL', (t) => {
  refuses(t, ErrorCode.HeaderKeyInvalid, () => encodeFrame({ CL: 5 }));
  refuses(t, ErrorCode.HeaderKeyInvalid, () => encodeFrame({ ID: 'Stan', CL: '0' }));
});

test('refuses a key that holds a colon', (t) => {
  refuses(t, ErrorCode.HeaderKeyInvalid, () => encodeFrame({ 'a:b': 'x' }));
});

test('refuses a key that holds a semicolon', (t) => {
  refuses(t, ErrorCode.HeaderKeyInvalid, () => encodeFrame({ 'a;b': 'x' }));
});

test('refuses a value that holds a colon', (t) => {
  refuses(t, ErrorCode.HeaderValueInvalid, () => encodeFrame({ addr: '127.0.0.1:5000' }));
});

test('refuses a value that holds a semicolon', (t) => {
  refuses(t, ErrorCode.HeaderValueInvalid, () => encodeFrame({ info: 'a;b' }));
});

test('refuses a key or value holding half of a surrogate pair, and accepts a whole pair', (t) => {
  refuses(t, ErrorCode.HeaderKeyInvalid, () => encodeFrame({ ['k\uD800']: 'v' }));
  refuses(t, ErrorCode.HeaderValueInvalid, () => encodeFrame({ k: 'v\uDC00' }));
  // Checked again each time, even for a key the quick path has seen before.
  encodeFrame({ emoji: 'ok' });
  refuses(t, ErrorCode.HeaderValueInvalid, () => encodeFrame({ emoji: '\uDBFF' }));
  t.deepEqual(wire({ emoji: '\uD83D\uDE00' }), expected('0f00', 'CL:0;emoji:\u{1F600}'));
});

test('refuses numbers that are not safe integers', (t) => {
  for (const value of [1.5, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY, -(2 ** 53)]) {
    refuses(t, ErrorCode.HeaderValueInvalid, () => encodeFrame({ n: value }));
  }
});

test('refuses values that are not strings or numbers', (t) => {
  for (const value of [true, false, null, undefined, {}, [], 1n, Buffer.from('x')]) {
    refuses(t, ErrorCode.HeaderValueInvalid, () => encodeFrame({ v: value as unknown as string }));
  }
});

test('refuses a header that is not a plain object', (t) => {
  for (const header of [null, 'CL:0', [['a', 'b']]]) {
    refuses(t, ErrorCode.HeaderValueInvalid, () => encodeFrame(header as unknown as HeaderInput));
  }
});

test('accepts a header text of exactly 65,535 bytes', (t) => {
  const value = 'x'.repeat(65_535 - 'CL:0;k:'.length);
  const frame = encodeFrame({ k: value });
  t.is(frame[0]!.readUInt16LE(0), 65_535);
  t.is(frame[0]!.length, 2 + 65_535);
});

test('refuses a header text of 65,536 bytes', (t) => {
  const value = 'x'.repeat(65_536 - 'CL:0;k:'.length);
  refuses(t, ErrorCode.HeaderTooLarge, () => encodeFrame({ k: value }));
});

test('refuses a header whose characters fit but whose UTF-8 bytes do not', (t) => {
  const value = 'é'.repeat(32_765); // 32,765 characters, 65,530 bytes
  refuses(t, ErrorCode.HeaderTooLarge, () => encodeFrame({ k: value }));
});

test('counts the content length digits toward the header limit', (t) => {
  const value = 'x'.repeat(65_535 - 'CL:0;k:'.length);
  refuses(t, ErrorCode.HeaderTooLarge, () => encodeFrame({ k: value }, Buffer.alloc(10)));
});

test('refuses string content', (t) => {
  refuses(t, ErrorCode.ContentInvalid, () => encodeFrame({}, 'text' as unknown as Uint8Array));
});

test('refuses content that is not bytes', (t) => {
  for (const content of [42, {}, [1, 2, 3], new ArrayBuffer(4)]) {
    refuses(t, ErrorCode.ContentInvalid, () => encodeFrame({}, content as unknown as Uint8Array));
  }
});

test('names the offending key or value in the error message', (t) => {
  t.throws(() => encodeFrame({ 'a:b': 'x' }), { message: /"a:b"/ });
  t.throws(() => encodeFrame({ addr: 'h:1' }), { message: /addr.*"h:1"/ });
});
