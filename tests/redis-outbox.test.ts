/** The bridge's outbox: bounded in count and bytes, oldest first, overflow counted. */
import test from 'ava';
import { Outbox } from '../lib/redis/outbox.js';

const item = (n: number, bytes = 1) => ({ channel: `c${n}`, payload: Buffer.alloc(bytes, n) });

test('envelopes wait in order and come out all at once, oldest first', (t) => {
  const outbox = new Outbox(10, 100);
  for (let n = 1; n <= 3; n++) t.true(outbox.push(item(n, 2)));
  t.is(outbox.length, 3);
  t.is(outbox.queuedBytes, 6);
  t.deepEqual(outbox.drain().map((p) => p.channel), ['c1', 'c2', 'c3']);
  t.is(outbox.length, 0);
  t.is(outbox.queuedBytes, 0);
});

test('an envelope past the count or the byte bound is refused and counted, and the kept ones stay', (t) => {
  const outbox = new Outbox(2, 10);
  t.true(outbox.push(item(1, 4)));
  t.true(outbox.push(item(2, 4)));
  t.false(outbox.push(item(3, 1)), 'count');
  t.is(outbox.overflow, 1);
  outbox.drain();
  t.true(outbox.push(item(4, 8)));
  t.false(outbox.push(item(5, 3)), 'bytes');
  t.is(outbox.overflow, 2);
  t.deepEqual(outbox.drain().map((p) => p.channel), ['c4']);
});
