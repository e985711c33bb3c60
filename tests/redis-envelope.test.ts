/** The envelopes between bridged hubs: frames of the library's own format, read back as they were sent. */
import test from 'ava';
import { FrameDecoder } from '../lib/protocol/decoder.js';
import { encodeFrame } from '../lib/protocol/encode.js';
import { clusterIdPrefix, decodeEnvelope, decodeMessage, encodeEnvelope, hubIdOf, newHubId } from '../lib/redis/envelope.js';

test('an envelope is one frame of the wire format whose content is the message frame, byte for byte', (t) => {
  const frame = Buffer.concat(encodeFrame({ info: 'hi', n: 3 }, Buffer.from([0, 1, 2, 255])));
  const bytes = encodeEnvelope({ kind: 'broadcast', origin: 'o1', hub: 'h1', seq: 7, frame });
  const frames: { header: Record<string, string>; content: Buffer }[] = [];
  new FrameDecoder().push(bytes, (m) => frames.push(m));
  t.is(frames.length, 1);
  t.deepEqual({ ...frames[0]!.header }, { kind: 'broadcast', origin: 'o1', hub: 'h1', seq: '7' });
  t.deepEqual(frames[0]!.content, frame);
});

test('every field of an envelope survives the round trip', (t) => {
  const frame = Buffer.concat(encodeFrame({ a: 'b' }));
  t.deepEqual(decodeEnvelope(encodeEnvelope({ kind: 'deliver', origin: 'o', hub: 'h', seq: 1, to: ['h.c1', 'h.c2'], frame })), {
    kind: 'deliver',
    origin: 'o',
    hub: 'h',
    seq: 1,
    to: ['h.c1', 'h.c2'],
    frame,
  });
  t.deepEqual(decodeEnvelope(encodeEnvelope({ kind: 'joined', origin: 'o', hub: 'h', seq: 2, id: 'h.c1', addr: '127.0.0.1 5000' })), {
    kind: 'joined',
    origin: 'o',
    hub: 'h',
    seq: 2,
    id: 'h.c1',
    addr: '127.0.0.1 5000',
  });
  t.deepEqual(decodeEnvelope(encodeEnvelope({ kind: 'close', origin: 'o', hub: 'h', seq: 3, to: [] })), { kind: 'close', origin: 'o', hub: 'h', seq: 3, to: [] });
});

test('a shared message is read back from its frame with its header and content', (t) => {
  const message = decodeMessage(Buffer.concat(encodeFrame({ info: 'hello' }, Buffer.from('body'))));
  t.deepEqual({ ...message.header }, { info: 'hello' });
  t.is(message.content.toString(), 'body');
});

test('a payload that is no envelope gives an error to count, never a throw', (t) => {
  t.true(decodeEnvelope(Buffer.from('not a frame at all')) instanceof Error);
  t.true(decodeEnvelope(Buffer.concat(encodeFrame({ kind: 'teleport', origin: 'o', hub: 'h', seq: 1 }))) instanceof Error);
  t.true(decodeEnvelope(Buffer.concat(encodeFrame({ kind: 'broadcast', origin: 'o', hub: 'h', seq: 0 }))) instanceof Error);
  const two = Buffer.concat([encodeEnvelope({ kind: 'sync', origin: 'o', hub: 'h', seq: 1 }), encodeEnvelope({ kind: 'sync', origin: 'o', hub: 'h', seq: 2 })]);
  t.true(decodeEnvelope(two) instanceof Error);
});

test('cluster ids start with their hub id, which names the hub that holds them', (t) => {
  const hubId = newHubId();
  t.regex(hubId, /^h[0-9a-f]{8}$/);
  t.is(clusterIdPrefix('east-1'), 'east-1.c');
  t.is(hubIdOf('east-1.c17'), 'east-1');
  t.is(hubIdOf('c17'), undefined);
  t.throws(() => clusterIdPrefix('a.b'), { code: 'ERR_INVALID_OPTION' });
  t.throws(() => clusterIdPrefix(''), { code: 'ERR_INVALID_OPTION' });
});
