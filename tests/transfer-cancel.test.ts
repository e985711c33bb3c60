/**
 * Cancel: either side stops a transfer; both sides end it as cancelled, the part file is removed,
 * nothing is published, and the connection goes on carrying other transfers.
 */
import { join } from 'node:path';
import test from 'ava';
import { ErrorCode, TransferCancelledError } from '../lib/errors.js';
import { bounded, makePair, namesIn, nextEvent, sha256File, writePattern } from './helpers/transfer.js';

const OPTIONS = { chunkBytes: 64 * 1024 };
const SIZE = 16 * 1024 * 1024;

test('the receiver cancels a get: both sides end it as cancelled, and nothing is left in downloads', async (t) => {
  const { alice, bob, a } = await makePair(t, OPTIONS);
  await writePattern(join(bob.share, 'big.bin'), SIZE);
  await writePattern(join(bob.share, 'small.bin'), 100_000);
  const bobCancelled = nextEvent(bob.engine.events$, 'cancelled');
  const aliceCancelled = nextEvent(alice.engine.events$, 'cancelled');

  const transfer = alice.engine.get(a, 'big.bin');
  await nextEvent(alice.engine.events$, 'progress');
  t.true(alice.engine.cancel(transfer.id));

  const error = await bounded(transfer.done.then(() => undefined, (e: unknown) => e), 'the cancelled get');
  t.true(error instanceof TransferCancelledError);
  t.is((error as TransferCancelledError).by, 'local');
  t.like((await aliceCancelled), { by: 'local', transfer: { id: transfer.id, state: 'cancelled' } });
  const atBob = await bobCancelled;
  t.is(atBob.by, 'peer');
  t.is(atBob.transfer.error?.code, ErrorCode.TransferCancelled);
  t.deepEqual(await namesIn(alice.downloads), [], 'no final file and no part file');
  t.false(transfer.cancel(), 'a second cancel finds it ended');
  t.false(alice.engine.cancel('t999'));

  // The connection and both engines carry on.
  await bounded(alice.engine.get(a, 'small.bin').done, 'a get after the cancel');
  t.is(await sha256File(join(alice.downloads, 'small.bin')), await sha256File(join(bob.share, 'small.bin')));
});

test('the sender cancels: the receiver\'s transfer ends as cancelled by the peer, and nothing is published', async (t) => {
  const { alice, bob, a } = await makePair(t, OPTIONS);
  await writePattern(join(bob.share, 'big.bin'), SIZE);
  const aliceCancelled = nextEvent(alice.engine.events$, 'cancelled');

  const transfer = alice.engine.get(a, 'big.bin');
  const serving = await nextEvent(bob.engine.events$, 'progress');
  t.like(serving.transfer, { initiator: 'peer', kind: 'get', direction: 'send', name: 'big.bin' });
  t.true(bob.engine.cancel(serving.transfer.id));

  const error = await bounded(transfer.done.then(() => undefined, (e: unknown) => e), 'the cancelled get');
  t.true(error instanceof TransferCancelledError);
  t.is((error as TransferCancelledError).by, 'peer');
  t.true((error as TransferCancelledError).remote);
  t.is((await aliceCancelled).by, 'peer');
  t.deepEqual(await namesIn(alice.downloads), []);
  t.like(bob.engine.transfers.find((s) => s.id === serving.transfer.id), { state: 'cancelled' });
});

test('a put is cancelled by the uploader and by the receiver alike', async (t) => {
  const { alice, bob, a, root } = await makePair(t, OPTIONS);
  await writePattern(join(root, 'up.bin'), SIZE);

  const first = alice.engine.put(a, join(root, 'up.bin'));
  await nextEvent(bob.engine.events$, 'progress');
  t.true(first.cancel());
  await t.throwsAsync(bounded(first.done, 'the put cancelled by its uploader'), { code: ErrorCode.TransferCancelled });
  const receiving = await nextEvent(bob.engine.events$, 'cancelled');
  t.is(receiving.by, 'peer');

  const second = alice.engine.put(a, join(root, 'up.bin'));
  const progress = await nextEvent(bob.engine.events$, 'progress');
  const bobCancelled = nextEvent(bob.engine.events$, 'cancelled');
  t.true(bob.engine.cancel(progress.transfer.id));
  // The cancelled event comes once the part file is dealt with.
  t.is((await bobCancelled).by, 'local');
  const error = await bounded(second.done.then(() => undefined, (e: unknown) => e), 'the put cancelled by its receiver');
  t.is((error as TransferCancelledError).by, 'peer');
  t.deepEqual(await namesIn(bob.downloads), []);
});

test('stopping an engine cancels its transfers on both sides', async (t) => {
  const { alice, bob, a } = await makePair(t, OPTIONS);
  await writePattern(join(bob.share, 'big.bin'), SIZE);
  const bobCancelled = nextEvent(bob.engine.events$, 'cancelled');

  const transfer = alice.engine.get(a, 'big.bin');
  await nextEvent(alice.engine.events$, 'progress');
  await bounded(alice.engine.stop(), 'the engine to stop');

  await t.throwsAsync(transfer.done, { code: ErrorCode.TransferCancelled });
  t.is((await bobCancelled).by, 'peer');
  t.deepEqual(await namesIn(alice.downloads), []);
  await t.throwsAsync(alice.engine.get(a, 'big.bin').done, { code: ErrorCode.TransferInterrupted }, 'a stopped engine starts nothing');
});
