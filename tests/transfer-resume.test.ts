/**
 * Resuming: a get whose connection is cut keeps its verified part file, and a later get of the
 * same name on a new connection sends only the rest; a part that does not match the sender's file
 * is started again from zero.
 */
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { ErrorCode, TransferError } from '../lib/errors.js';
import type { MemorySocket } from '../lib/testing/index.js';
import { bounded, connect, makePair, namesIn, nextEvent, sha256File, writePattern } from './helpers/transfer.js';

const CHUNK = 64 * 1024;
const SIZE = 8 * 1024 * 1024;

test('a get cut midway by a connection reset keeps its part, and a new connection resumes it byte-identical', async (t) => {
  const { alice, bob, a } = await makePair(t, { chunkBytes: CHUNK });
  await writePattern(join(bob.share, 'big.bin'), SIZE, 21);
  const bobFailed = nextEvent(bob.engine.events$, 'failed');

  const first = alice.engine.get(a, 'big.bin');
  await nextEvent(alice.engine.events$, 'progress', (e) => e.transfer.bytes >= 3 * 1024 * 1024);
  (a.socket as MemorySocket).reset();

  const error = await bounded(first.done.then(() => undefined, (e: unknown) => e), 'the cut get to fail');
  t.true(error instanceof TransferError);
  t.is((error as TransferError).code, ErrorCode.TransferInterrupted);
  t.is((await bobFailed).error.code, ErrorCode.TransferInterrupted);
  t.deepEqual(await namesIn(alice.downloads), ['.big.bin.part'], 'only the part file, nothing under the final name');
  const kept = (await stat(join(alice.downloads, '.big.bin.part'))).size;
  t.true(kept >= 3 * 1024 * 1024 && kept < SIZE, `part of ${kept} bytes`);
  t.is(first.snapshot().state, 'failed');

  const [a2, b2] = connect(t);
  bob.engine.attach(b2);
  const summary = await bounded(alice.engine.get(a2, 'big.bin').done, 'the resumed get');

  t.is(summary.resumedFrom, kept);
  t.is(summary.bytes, SIZE - kept);
  t.is(await sha256File(join(alice.downloads, 'big.bin')), await sha256File(join(bob.share, 'big.bin')));
  t.deepEqual(await namesIn(alice.downloads), ['big.bin']);
});

test('a part file whose bytes differ from the sender\'s file is started again from zero', async (t) => {
  const { alice, bob, a } = await makePair(t, { chunkBytes: CHUNK });
  await writePattern(join(bob.share, 'f.bin'), 1_000_000, 22);
  await writeFile(join(alice.downloads, '.f.bin.part'), Buffer.alloc(300_000, 7));

  const summary = await bounded(alice.engine.get(a, 'f.bin').done, 'the get');

  t.is(summary.resumedFrom, 0);
  t.is(await sha256File(join(alice.downloads, 'f.bin')), await sha256File(join(bob.share, 'f.bin')));
  t.deepEqual(await namesIn(alice.downloads), ['f.bin']);
});

test('a part file longer than the sender\'s file is started again from zero', async (t) => {
  const { alice, bob, a } = await makePair(t, { chunkBytes: CHUNK });
  await writePattern(join(bob.share, 'f.bin'), 100_000, 23);
  await writePattern(join(alice.downloads, '.f.bin.part'), 200_000, 23);

  const summary = await bounded(alice.engine.get(a, 'f.bin').done, 'the get');

  t.is(summary.resumedFrom, 0);
  t.is(await sha256File(join(alice.downloads, 'f.bin')), await sha256File(join(bob.share, 'f.bin')));
});

test('a put cut midway resumes too: the receiver reports its verified part in its accept', async (t) => {
  const { alice, bob, a, root } = await makePair(t, { chunkBytes: CHUNK });
  const source = join(root, 'up.bin');
  await writePattern(source, SIZE, 24);

  const bobFailed = nextEvent(bob.engine.events$, 'failed');
  const first = alice.engine.put(a, source);
  await nextEvent(bob.engine.events$, 'progress', (e) => e.transfer.bytes >= 2 * 1024 * 1024);
  (a.socket as MemorySocket).reset();
  await t.throwsAsync(bounded(first.done, 'the cut put to fail'), { code: ErrorCode.TransferInterrupted });
  t.is((await bobFailed).error.code, ErrorCode.TransferInterrupted);
  const kept = (await stat(join(bob.downloads, '.up.bin.part'))).size;

  const [a2, b2] = connect(t);
  bob.engine.attach(b2);
  const summary = await bounded(alice.engine.put(a2, source).done, 'the resumed put');

  t.true(kept > 0);
  t.is(summary.resumedFrom, kept);
  t.is(await sha256File(join(bob.downloads, 'up.bin')), await sha256File(source));
  t.deepEqual(await namesIn(bob.downloads), ['up.bin']);
});
