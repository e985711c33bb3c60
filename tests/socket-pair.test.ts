import test from 'ava';
import { once } from 'node:events';
import { socketPair, type MemorySocket } from '../lib/testing/index.js';

/** The longest any single wait in these tests may take before it fails the test. */
const WAIT_MS = 10_000;

const within = () => ({ signal: AbortSignal.timeout(WAIT_MS) });

/** Destroys both ends; the reset each may see is expected. */
const discard = (...sockets: MemorySocket[]) => {
  for (const socket of sockets) socket.on('error', () => {}).destroy();
};

test('bytes written at one end are read at the other, both ways', async (t) => {
  const [a, b] = socketPair();
  t.teardown(() => discard(a, b));
  const atB = once(b, 'data', within());
  a.write('ping');
  t.is(String((await atB)[0]), 'ping');
  const atA = once(a, 'data', within());
  b.write('pong');
  t.is(String((await atA)[0]), 'pong');
});

test('end() at one end gives the other end an end event, and both close', async (t) => {
  const [a, b] = socketPair();
  const closed = Promise.all([once(a, 'close', within()), once(b, 'close', within())]);
  const ended = once(b, 'end', within());
  a.end('last');
  b.resume();
  a.resume(); // a reads too, to see the FIN b sends back
  await ended;
  await closed;
  t.true(a.destroyed && b.destroyed);
});

test('reset() gives the other end an ECONNRESET error', async (t) => {
  const [a, b] = socketPair();
  const failed = once(b, 'error', within());
  a.reset();
  const [error] = (await failed) as [NodeJS.ErrnoException];
  t.is(error.code, 'ECONNRESET');
  t.true(b.destroyed);
});

test('a reader that does not read holds the writer\'s bytes in its queue until it resumes', async (t) => {
  const [a, b] = socketPair({ bufferBytes: 16 });
  t.teardown(() => discard(a, b));
  const chunk = (n: number) => Buffer.alloc(10, n);
  for (let i = 0; i < 5; i++) a.write(chunk(i));
  await new Promise((resolve) => setImmediate(resolve));
  const queuedBefore = a.writableLength;
  t.true(queuedBefore > 0, 'the writer holds what the reader has no room for');
  t.true(b.readableLength >= 16, 'the reader is full');
  t.true(b.readableLength <= 16 + 10, 'the reader takes at most one chunk past its buffer');

  for (let i = 5; i < 10; i++) a.write(chunk(i));
  t.is(a.writableLength, queuedBefore + 50, 'the queue grows while the reader does not read');

  const drained = once(a, 'drain', within());
  const received: Buffer[] = [];
  b.on('data', (data: Buffer) => received.push(data));
  await drained;
  t.is(a.writableLength, 0);
  const ended = once(b, 'end', within());
  a.end();
  await ended;
  t.deepEqual(Buffer.concat(received), Buffer.concat(Array.from({ length: 10 }, (_, i) => chunk(i))));
});
