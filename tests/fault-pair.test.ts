/**
 * The fault-injecting in-memory connection of `rx-tcp-hub/testing`: each fault on raw bytes, then a
 * Messenger over it, which must decode split writes, report a reset as `reset`, close a stalled
 * frame as `frame-timeout`, and turn a stalled reader into backpressure and `ERR_QUEUE_FULL`.
 * Timed faults run on a VirtualTimeScheduler moved by hand, so no assertion depends on real time.
 */
import test from 'ava';
import { once } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { VirtualTimeScheduler, firstValueFrom, take, timeout, toArray } from 'rxjs';
import { CloseReasonKind } from '../lib/connection/close-reason.js';
import { Messenger, type MessengerOptions } from '../lib/connection/messenger.js';
import { ErrorCode, FrameTimeoutError, InvalidOptionError, QueueFullError } from '../lib/errors.js';
import { encodeFrame, frameLength } from '../lib/protocol/index.js';
import { FaultSocket, MemoryHub, chunksOf, faultPair, randomChunks, type FaultPairOptions } from '../lib/testing/index.js';

/** The longest any single wait in these tests may take before it fails the test. */
const WAIT_MS = 10_000;

const within = () => ({ signal: AbortSignal.timeout(WAIT_MS) });

/** Destroys both ends; the reset each may see is expected. */
const discard = (...sockets: FaultSocket[]) => {
  for (const socket of sockets) socket.on('error', () => {}).destroy();
};

/** Every chunk the socket emits, as text, in order. */
const collect = (socket: FaultSocket): string[] => {
  const chunks: string[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  return chunks;
};

/** Runs the scheduler's actions due up to `time` (virtual ms), then lets the streams' ticks run. */
const advanceTo = async (scheduler: VirtualTimeScheduler, time: number) => {
  scheduler.maxFrames = time;
  scheduler.flush();
  await nextTurn();
};

/** A Messenger on each end, destroyed in teardown. */
const messengers = (
  t: { teardown(fn: () => void): void },
  pair: FaultPairOptions = {},
  options: MessengerOptions = {},
): { a: Messenger; b: Messenger; sa: FaultSocket; sb: FaultSocket } => {
  const [sa, sb] = faultPair(pair);
  const a = new Messenger(sa, 'a', options);
  const b = new Messenger(sb, 'b', options);
  t.teardown(() => discard(sa, sb));
  return { a, b, sa, sb };
};

// The faults, on raw bytes

test('without faults, each write reaches the other end whole, both ways, with nothing left in flight', async (t) => {
  const [a, b] = faultPair();
  t.teardown(() => discard(a, b));
  const atA = collect(a);
  const atB = collect(b);
  a.write('ping');
  b.write('pong');
  a.write('again');
  await nextTurn();
  t.deepEqual({ atA, atB }, { atA: ['pong'], atB: ['ping', 'again'] });
  t.is(a.inFlightBytes + b.inFlightBytes, 0);
});

test('each write is split into the pieces the chunking function gives', async (t) => {
  const [a, b] = faultPair({ chunks: chunksOf(3) });
  t.teardown(() => discard(a, b));
  const received = collect(b);
  a.write('abcdefgh');
  a.splitWrites((bytes) => [1, bytes.length]);
  a.write('xyz');
  a.splitWrites(undefined);
  a.write('whole');
  await nextTurn();
  t.deepEqual(received, ['abc', 'def', 'gh', 'x', 'yz', 'whole']);
});

test('random chunks with the same seed split the same way, and every size is within bounds', (t) => {
  const sizes = (seed: number) => [...randomChunks(seed, { min: 2, max: 5 })(Buffer.alloc(200))];
  t.deepEqual(sizes(42), sizes(42));
  t.notDeepEqual(sizes(42), sizes(43));
  t.true(sizes(42).every((size) => size >= 2 && size <= 5));
  t.true(sizes(42).reduce((sum, size) => sum + size, 0) >= 200);
});

test('each piece arrives after its delay on the given scheduler, and pieces keep their order', async (t) => {
  const scheduler = new VirtualTimeScheduler();
  const [a, b] = faultPair({ scheduler, delayMs: 100 });
  t.teardown(() => discard(a, b));
  const received = collect(b);
  a.write('first');
  await advanceTo(scheduler, 99);
  t.deepEqual(received, []);
  t.is(a.inFlightBytes, 5);
  await advanceTo(scheduler, 100);
  t.deepEqual(received, ['first']);

  // A later piece with a shorter delay still waits for the one written before it.
  a.splitWrites(chunksOf(1)).delayWrites((piece) => (piece.toString() === 'x' ? 50 : 10));
  a.write('xy');
  await advanceTo(scheduler, 110);
  t.deepEqual(received, ['first']);
  await advanceTo(scheduler, 150);
  t.deepEqual(received, ['first', 'x', 'y']);
  t.is(a.inFlightBytes, 0);
});

test('end() reaches the other end as a FIN after every delayed piece', async (t) => {
  const scheduler = new VirtualTimeScheduler();
  const [a, b] = faultPair({ scheduler, delayMs: 30 });
  t.teardown(() => discard(a, b));
  const events: string[] = [];
  b.on('data', (chunk: Buffer) => events.push(chunk.toString()));
  b.on('end', () => events.push('end'));
  a.end('last words');
  await advanceTo(scheduler, 29);
  t.deepEqual(events, []);
  await advanceTo(scheduler, 30);
  t.deepEqual(events, ['last words', 'end']);
});

test('a stalled delivery holds the bytes until it resumes, and past bufferBytes the writer\'s queue grows', async (t) => {
  const [a, b] = faultPair({ bufferBytes: 16 });
  t.teardown(() => discard(a, b));
  const received = collect(b);
  a.stallDelivery();
  for (let i = 0; i < 6; i++) a.write(`chunk${i}`);
  await nextTurn();
  t.deepEqual(received, []);
  t.true(a.inFlightBytes > 16, 'the link holds one write past its buffer');
  t.true(a.writableLength > 0, 'the rest waits in the writer\'s queue');

  a.resumeDelivery();
  await nextTurn();
  t.is(received.join(''), 'chunk0chunk1chunk2chunk3chunk4chunk5');
  t.is(a.writableLength, 0);
});

test('stallDelivery(n) lets n more bytes through first', async (t) => {
  const [a, b] = faultPair();
  t.teardown(() => discard(a, b));
  const received = collect(b);
  a.stallDelivery(3);
  a.write('abcdef');
  await nextTurn();
  t.deepEqual(received, ['abc']);
  a.resumeDelivery();
  await nextTurn();
  t.deepEqual(received, ['abc', 'def']);
});

test('a reader that stalls takes nothing, even with its stream flowing, until it reads again', async (t) => {
  const [a, b] = faultPair();
  t.teardown(() => discard(a, b));
  const received = collect(b);
  b.stallReading();
  a.write('held');
  b.resume();
  await nextTurn();
  t.deepEqual(received, []);
  b.resumeReading();
  await nextTurn();
  t.deepEqual(received, ['held']);
});

test('reset() gives the other end ECONNRESET, and what was in flight is lost', async (t) => {
  const [a, b] = faultPair();
  const received = collect(b);
  b.stallReading();
  a.write('lost');
  const failed = once(b, 'error', within());
  a.reset();
  const [error] = (await failed) as [NodeJS.ErrnoException];
  t.is(error.code, 'ECONNRESET');
  t.true(a.destroyed && b.destroyed);
  t.deepEqual(received, []);
});

test('resetAfter(n) delivers exactly n more bytes, then resets', async (t) => {
  const [a, b] = faultPair({ chunks: chunksOf(4) });
  const received = collect(b);
  const failed = once(b, 'error', within());
  a.resetAfter(6);
  a.write('abcdefghij');
  const [error] = (await failed) as [NodeJS.ErrnoException];
  t.is(error.code, 'ECONNRESET');
  t.is(received.join(''), 'abcdef');
});

test('destroying one end before its FIN resets the other, and a write there then fails', async (t) => {
  const [a, b] = faultPair();
  const failed = once(a, 'error', within());
  b.destroy();
  const [error] = (await failed) as [NodeJS.ErrnoException];
  t.is(error.code, 'ECONNRESET');
  t.true(a.destroyed);
  const writeError = await new Promise<NodeJS.ErrnoException | null | undefined>((resolve) => a.write('too late', resolve));
  t.is(writeError?.code, 'ERR_STREAM_DESTROYED');
});

test('bad sizes and delays are refused with InvalidOptionError', async (t) => {
  t.throws(() => randomChunks(1, { min: 0 }), { instanceOf: InvalidOptionError });
  t.throws(() => randomChunks(1, { min: 4, max: 3 }), { instanceOf: InvalidOptionError });
  t.throws(() => chunksOf(0), { instanceOf: InvalidOptionError });
  t.throws(() => faultPair({ delayMs: -1 }), { instanceOf: InvalidOptionError });
  const [a, b] = faultPair();
  t.teardown(() => discard(a, b));
  t.throws(() => a.stallDelivery(-1), { instanceOf: InvalidOptionError });
  t.throws(() => a.resetAfter(1.5), { instanceOf: InvalidOptionError });
  b.on('error', () => {}); // a's failure resets b
  a.splitWrites(() => [0]);
  a.write('x');
  const [error] = (await once(a, 'error', within())) as [InvalidOptionError];
  t.is(error.code, ErrorCode.InvalidOption);
});

// A Messenger over the faults

test('a Messenger decodes whole messages, in order, from writes split at random both ways', async (t) => {
  const { a, b, sb } = messengers(t, { chunks: randomChunks(7, { max: 5 }) });
  let chunks = 0;
  sb.on('data', () => chunks++);
  const count = 50;
  const atB = firstValueFrom(b.messages$.pipe(take(count), toArray(), timeout(WAIT_MS)));
  const sent = Array.from({ length: count }, (_, i) => a.send({ seq: i }, Buffer.alloc(i, i)));
  await Promise.all(sent);
  const messages = await atB;
  t.deepEqual(
    messages.map((m) => [m.header['seq'], m.content.toString('hex')]),
    Array.from({ length: count }, (_, i) => [String(i), Buffer.alloc(i, i).toString('hex')]),
  );
  t.true(chunks > count, 'the frames really arrived in pieces');

  const back = firstValueFrom(a.messages$.pipe(timeout(WAIT_MS)));
  await b.send({ info: 'and back' });
  t.is((await back).header['info'], 'and back');
});

test('a Messenger over a link with delays and one-byte pieces still gets every message in order', async (t) => {
  const scheduler = new VirtualTimeScheduler();
  const { a, b } = messengers(t, { scheduler, chunks: chunksOf(1), delayMs: (_piece, i) => (i * 7) % 13 }, { scheduler });
  const received: string[] = [];
  b.messages$.subscribe((m) => received.push(m.header['seq']!));
  for (let i = 0; i < 10; i++) void a.send({ seq: i });
  await nextTurn(); // the Messenger uncorks its writes on the next tick
  await advanceTo(scheduler, 10_000);
  t.deepEqual(received, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
});

test('a reset closes the other end\'s Messenger with reason reset and the ECONNRESET error', async (t) => {
  const { a, b, sa } = messengers(t);
  const got = firstValueFrom(b.messages$.pipe(timeout(WAIT_MS)));
  await a.send({ info: 'before' });
  t.is((await got).header['info'], 'before');
  const closed = firstValueFrom(b.closed$.pipe(timeout(WAIT_MS)));
  sa.reset();
  const reason = await closed;
  t.is(reason.reason, CloseReasonKind.Reset);
  t.is((reason.error as NodeJS.ErrnoException).code, 'ECONNRESET');
});

test('a reset in the middle of a frame closes the receiver as reset, delivering only the whole frames', async (t) => {
  const { a, b, sa } = messengers(t);
  const received: string[] = [];
  b.messages$.subscribe((m) => received.push(m.header['seq']!));
  const first = frameLength(encodeFrame({ seq: 0 }));
  sa.resetAfter(first + 3);
  const closed = firstValueFrom(b.closed$.pipe(timeout(WAIT_MS)));
  await Promise.allSettled([a.send({ seq: 0 }), a.send({ seq: 1 })]);
  const reason = await closed;
  t.is(reason.reason, CloseReasonKind.Reset);
  t.deepEqual(received, ['0']);
});

test('a delivery stalled in the middle of a frame closes the receiving Messenger as frame-timeout', async (t) => {
  const scheduler = new VirtualTimeScheduler();
  const { a, b, sa } = messengers(t, { scheduler }, { scheduler, frameTimeoutMs: 1000 });
  let closedAt = -1;
  b.closed$.subscribe(() => (closedAt = scheduler.now()));
  sa.stallDelivery(5);
  void a.send({ info: 'never finished' });
  await nextTurn();
  await advanceTo(scheduler, 999);
  t.false(b.closed);
  await advanceTo(scheduler, 5000);
  t.is(closedAt, 1000);
  t.is(b.closeReason?.reason, CloseReasonKind.FrameTimeout);
  t.true(b.closeReason?.error instanceof FrameTimeoutError);
});

test("with onQueueFull 'fail', a reader that stops reading turns into backpressure: sends fail with queue-full, the queue stays within maxQueueBytes, and nothing accepted is lost", async (t) => {
  const maxQueueBytes = 8 * 1024;
  const { a, b, sb } = messengers(t, { bufferBytes: 1024 }, { maxQueueBytes, onQueueFull: 'fail' });
  const received: string[] = [];
  b.messages$.subscribe((m) => received.push(m.header['seq']!));
  sb.stallReading();
  const content = Buffer.alloc(500);
  let accepted = 0;
  let refused: unknown;
  let peak = 0;
  for (let i = 0; i < 1000 && refused === undefined; i++) {
    try {
      // write() refuses synchronously; send() would report the same error a tick later.
      a.write(encodeFrame({ seq: i }, content));
      accepted++;
    } catch (error) {
      refused = error;
    }
    peak = Math.max(peak, a.queuedBytes);
    if (i % 4 === 3) await nextTurn(); // let the writes reach the link
  }
  t.true(refused instanceof QueueFullError);
  t.is((refused as QueueFullError).code, ErrorCode.QueueFull);
  t.true(peak <= maxQueueBytes, `the queue peaked at ${peak} bytes`);
  t.false(a.closed, "with onQueueFull 'fail' the connection stays open");
  t.deepEqual(received, []);

  sb.resumeReading();
  const expected = Array.from({ length: accepted }, (_, i) => String(i));
  for (let i = 0; i < 1000 && received.length < expected.length; i++) await nextTurn();
  t.deepEqual(received, expected);
  t.is(a.queuedBytes, 0);
});

test("by default (onQueueFull 'close'), a reader that stops reading is closed as slow-consumer", async (t) => {
  const maxQueueBytes = 4 * 1024;
  const { a, sb } = messengers(t, { bufferBytes: 1024 }, { maxQueueBytes });
  sb.stallReading();
  const sends: Array<Promise<void>> = [];
  for (let i = 0; i < 1000 && !a.closed; i++) {
    sends.push(a.send({ seq: i }, Buffer.alloc(300)));
    if (i % 4 === 3) await nextTurn();
  }
  const outcomes = await Promise.allSettled(sends);
  t.is(a.closeReason?.reason, CloseReasonKind.SlowConsumer);
  t.true(a.closeReason?.error instanceof QueueFullError);
  t.true(outcomes.some((o) => o.status === 'rejected' && o.reason instanceof QueueFullError));
});

test('a MemoryHub peer made with faults reaches the hub split and delayed, every message whole and in order', async (t) => {
  const scheduler = new VirtualTimeScheduler();
  const hub = new MemoryHub({ scheduler });
  t.teardown(() => hub.stop({ drainMs: 0 }));
  const peer = hub.connectPeer({ faults: { chunks: randomChunks(11, { max: 3 }), delayMs: 5 } });
  t.true(peer.socket instanceof FaultSocket, 'the pair is a fault pair');
  const got: string[] = [];
  hub.incoming$.subscribe(({ header }) => got.push(header['n']!));
  const sent = Array.from({ length: 20 }, (_, i) => peer.send({ n: i, pad: 'x'.repeat(i) }));
  for (let i = 0; i < 200 && got.length < 20; i++) {
    await nextTurn();
    scheduler.flush();
  }
  await Promise.all(sent);
  t.deepEqual(got, Array.from({ length: 20 }, (_, i) => String(i)));
});
