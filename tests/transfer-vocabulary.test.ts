/**
 * The transfer vocabulary as bytes: every message survives the seed's wire format (encoded, split
 * into one-byte reads, decoded), header values never hold ':' or ';', and a malformed message is a
 * typed protocol error, never a throw.
 */
import test from 'ava';
import { ErrorCode, TransferProtocolError } from '../lib/errors.js';
import {
  decodeTransferMessage,
  encodeTransferMessage,
  isTransferMessage,
  TransferOp,
  type TransferMessage,
} from '../lib/filer/transfer/vocabulary.js';
import { FrameDecoder } from '../lib/protocol/decoder.js';
import { encodeFrame } from '../lib/protocol/encode.js';
import type { Header, Message } from '../lib/protocol/message.js';

const SHA = 'ab'.repeat(32);

const EXAMPLES: TransferMessage[] = [
  { op: 'ls', id: 'a1' },
  { op: 'ls-result', id: 'a1', files: [{ name: 'notes: v2; final.txt', size: 12 }, { name: 'é.bin', size: 0 }] },
  { op: 'get', id: 'b2', name: 'x: y; z', have: 0, window: 8, chunk: 262144 },
  { op: 'get', id: 'b3', name: 'resume.bin', have: 1048576, sha256: SHA, window: 8, chunk: 262144 },
  { op: 'put', id: 'c4', name: 'up;load.bin', size: 209715200 },
  { op: 'accept', id: 'c4', have: 0, window: 4, chunk: 65536 },
  { op: 'accept', id: 'c5', have: 10, sha256: SHA, window: 4, chunk: 65536 },
  { op: 'start', id: 'c4', size: 209715200, offset: 0 },
  { op: 'chunk', id: 'c4', offset: 262144, data: Buffer.from([0, 1, 2, 0x3a, 0x3b, 255]) },
  { op: 'ack', id: 'c4', offset: 524288 },
  { op: 'end', id: 'c4', size: 209715200, sha256: SHA },
  { op: 'done', id: 'c4', sha256: SHA },
  { op: 'cancel', id: 'c4' },
  { op: 'error', id: 'c4', code: 'ERR_TRANSFER_NAME_INVALID', message: 'refused file name "../x": holds a path separator; sorry' },
];

/** Encodes with the library's encoder, then decodes one byte at a time. */
function throughTheWire(message: TransferMessage): Message {
  const { header, content } = encodeTransferMessage(message);
  const bytes = Buffer.concat(encodeFrame(header, content));
  const decoder = new FrameDecoder();
  const out: Message[] = [];
  for (const byte of bytes) decoder.push(Buffer.from([byte]), (m) => out.push(m));
  if (out.length !== 1) throw new Error(`decoded ${out.length} messages`);
  return out[0]!;
}

function received(header: Record<string, string>, content = ''): Message {
  return { header: Object.assign(Object.create(null), header) as Header, content: Buffer.from(content) };
}

test('every message of the vocabulary survives the wire format, split into one-byte reads', (t) => {
  t.deepEqual(new Set(EXAMPLES.map((m) => m.op)), new Set(Object.values(TransferOp)), 'every operation is covered');
  for (const message of EXAMPLES) {
    const wire = throughTheWire(message);
    t.true(isTransferMessage(wire));
    t.is(wire.header['ft'], message.op);
    t.deepEqual(decodeTransferMessage(wire), message, message.op);
  }
});

test('names and error texts travel in the content; header values never hold ":" or ";"', (t) => {
  for (const message of EXAMPLES) {
    const { header } = encodeTransferMessage(message);
    for (const value of Object.values(header)) t.false(/[:;]/.test(String(value)), `${message.op}: ${String(value)}`);
  }
  const get = encodeTransferMessage(EXAMPLES[2]!);
  t.deepEqual(JSON.parse(get.content!.toString('utf8')), { name: 'x: y; z' });
});

test('chat messages are not transfer messages', (t) => {
  t.false(isTransferMessage(received({ info: 'hello' })));
  t.false(isTransferMessage(received({ ID: 'Stan', Port: '63330' })));
  t.true(isTransferMessage(received({ ft: 'ls', id: 'x' })));
});

test('a malformed transfer message decodes to a protocol error that names the problem, with its id when readable', (t) => {
  const cases: Array<[Record<string, string>, string, RegExp, string | undefined]> = [
    [{ ft: 'nope', id: 'a' }, '', /unknown transfer operation "nope"/, 'a'],
    [{ ft: 'ls' }, '', /missing or invalid id/, undefined],
    [{ ft: 'ls', id: 'a b' }, '', /missing or invalid id/, undefined],
    [{ ft: 'get', id: 'a', have: '0', window: '8', chunk: '1' }, '{', /content is not JSON/, 'a'],
    [{ ft: 'get', id: 'a', have: '0', window: '8', chunk: '1' }, '{"name":3}', /no "name" string/, 'a'],
    [{ ft: 'get', id: 'a', have: '0', window: '0', chunk: '1' }, '{"name":"x"}', /at least 1/, 'a'],
    [{ ft: 'get', id: 'a', have: '4', window: '8', chunk: '1' }, '{"name":"x"}', /sha256/, 'a'],
    [{ ft: 'get', id: 'a', have: '0', sha256: SHA, window: '8', chunk: '1' }, '{"name":"x"}', /sha256 given for have 0/, 'a'],
    [{ ft: 'put', id: 'a', size: '1e3' }, '{"name":"x"}', /size "1e3" is not a whole number/, 'a'],
    [{ ft: 'put', id: 'a', size: '99999999999999999' }, '{"name":"x"}', /not a whole number/, 'a'],
    [{ ft: 'chunk', id: 'a', offset: '0' }, '', /chunk: no content/, 'a'],
    [{ ft: 'ack', id: 'a', offset: '-1' }, '', /not a whole number/, 'a'],
    [{ ft: 'end', id: 'a', size: '1', sha256: 'AB'.repeat(32) }, '', /not 64 hex digits/, 'a'],
    [{ ft: 'ls-result', id: 'a' }, '{"name":"x"}', /not a JSON array/, 'a'],
    [{ ft: 'ls-result', id: 'a' }, '[{"name":"x","size":-1}]', /not \{ name, size \}/, 'a'],
    [{ ft: 'error', id: 'a', code: 'oops' }, '', /invalid code/, 'a'],
  ];
  for (const [header, content, pattern, id] of cases) {
    const decoded = decodeTransferMessage(received(header, content));
    if ('op' in decoded) {
      t.fail(`${JSON.stringify(header)} decoded as ${decoded.op}`);
      continue;
    }
    t.true(decoded.error instanceof TransferProtocolError);
    t.is(decoded.error.code, ErrorCode.TransferProtocol);
    t.regex(decoded.error.message, pattern);
    t.is(decoded.id, id);
  }
});
