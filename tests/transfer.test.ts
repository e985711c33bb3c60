/**
 * The transfer engine between two peers joined in memory: listing, get and put of files of the
 * edge sizes and of 200 MB byte for byte, memory held under the credit window, chat staying
 * responsive, and transfers in both directions at once.
 */
import { mkdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { DEFAULT_CHUNK_BYTES, DEFAULT_QUEUE_BYTES, DEFAULT_WINDOW } from '../lib/filer/transfer/options.js';
import { formatSummary, type TransferEvent } from '../lib/filer/transfer/events.js';
import { skipTransferMessages } from '../lib/filer/transfer/operators.js';
import { CHUNK_FRAME_OVERHEAD } from '../lib/filer/transfer/link.js';
import { ErrorCode } from '../lib/errors.js';
import { bounded, connect, makePair, makePeer, namesIn, nextEvent, sha256File, tempDir, writePattern } from './helpers/transfer.js';

const CHUNK = DEFAULT_CHUNK_BYTES;

test('ls lists the peer\'s shared regular files with their sizes, leaving out hidden names, folders and links outside', async (t) => {
  const { alice, bob, a } = await makePair(t);
  await writeFile(join(bob.share, 'b.txt'), 'hello');
  await writeFile(join(bob.share, 'a.bin'), Buffer.alloc(1234));
  await writeFile(join(bob.share, '.hidden'), 'x');
  await mkdir(join(bob.share, 'folder'));
  await symlink(join(bob.share, 'a.bin'), join(bob.share, 'inside-link'));
  await writeFile(join(alice.share, 'outside.txt'), 'secret');
  await symlink(join(alice.share, 'outside.txt'), join(bob.share, 'outside-link'));

  const files = await bounded(alice.engine.list(a), 'the listing');

  t.deepEqual(files, [
    { name: 'a.bin', size: 1234 },
    { name: 'b.txt', size: 5 },
    { name: 'inside-link', size: 1234 },
  ]);
});

for (const size of [0, 1, CHUNK - 1, CHUNK + 1]) {
  test(`get copies a file of ${size} bytes byte for byte, and the summary says so`, async (t) => {
    const { alice, bob, a } = await makePair(t);
    await writePattern(join(bob.share, 'f.bin'), size);
    const events: TransferEvent[] = [];
    alice.engine.events$.subscribe((event) => events.push(event));

    const transfer = alice.engine.get(a, 'f.bin');
    const summary = await bounded(transfer.done, 'the get');

    t.is(await sha256File(join(alice.downloads, 'f.bin')), await sha256File(join(bob.share, 'f.bin')));
    t.deepEqual(await namesIn(alice.downloads), ['f.bin'], 'no part file is left');
    t.like(summary, { name: 'f.bin', direction: 'receive', size, bytes: size, resumedFrom: 0, verified: true });
    t.is(summary.sha256, await sha256File(join(bob.share, 'f.bin')));
    t.regex(formatSummary(summary), /^received f\.bin: .* in [0-9.]+ s, [0-9.]+ MB\/s, SHA-256 verified/);
    t.deepEqual(
      events.map((e) => e.type).filter((type, i, all) => type !== 'progress' || all[i - 1] !== 'progress'),
      size === 0 ? ['requested', 'started', 'done'] : ['requested', 'started', 'progress', 'done'],
    );
    t.like(alice.engine.transfers.find((s) => s.id === transfer.id), { state: 'done', bytes: size, size });
  });

  test(`put copies a file of ${size} bytes byte for byte into the peer's downloads folder`, async (t) => {
    const { alice, bob, a, root } = await makePair(t);
    await writePattern(join(root, 'up.bin'), size, 7);
    const bobDone = nextEvent(bob.engine.events$, 'done');

    const summary = await bounded(alice.engine.put(a, join(root, 'up.bin')).done, 'the put');

    t.is(await sha256File(join(bob.downloads, 'up.bin')), await sha256File(join(root, 'up.bin')));
    t.deepEqual(await namesIn(bob.downloads), ['up.bin']);
    t.like(summary, { name: 'up.bin', direction: 'send', size, verified: true });
    t.like((await bobDone).summary, { name: 'up.bin', direction: 'receive', size, sha256: summary.sha256 });
  });
}

test('a 200 MB get is byte-identical, and both sides hold at most window × chunk bytes in flight throughout', async (t) => {
  t.timeout(120_000);
  const size = 200 * 1024 * 1024;
  const { alice, bob, a, b } = await makePair(t);
  const source = join(bob.share, 'big.bin');
  await writePattern(source, size, 3);

  // Bounds: the credit window (8 chunks of 256 KiB = 2 MiB) on each side, and the connection's
  // outbound queue under queueBytes (1 MiB) plus one chunk frame.
  const windowBytes = DEFAULT_WINDOW * CHUNK;
  const queueBound = DEFAULT_QUEUE_BYTES + CHUNK + CHUNK_FRAME_OVERHEAD;
  const peak = { senderInFlight: 0, senderChunks: 0, receiverInFlight: 0, receiverChunks: 0, queued: 0, samples: 0 };
  const sample = (): void => {
    const sender = bob.engine.memory;
    const receiver = alice.engine.memory;
    peak.senderInFlight = Math.max(peak.senderInFlight, sender.inFlightBytes);
    peak.senderChunks = Math.max(peak.senderChunks, sender.bufferedChunks);
    peak.receiverInFlight = Math.max(peak.receiverInFlight, receiver.inFlightBytes);
    peak.receiverChunks = Math.max(peak.receiverChunks, receiver.bufferedChunks);
    peak.queued = Math.max(peak.queued, b.queuedBytes, a.queuedBytes);
    peak.samples++;
  };
  alice.engine.events$.subscribe(sample);
  bob.engine.events$.subscribe(sample);
  const sampler = setInterval(sample, 1);
  t.teardown(() => clearInterval(sampler));
  const bobDone = nextEvent(bob.engine.events$, 'done', undefined, 110_000);

  const started = Date.now();
  const summary = await bounded(alice.engine.get(a, 'big.bin').done, 'the 200 MB get', 110_000);
  const seconds = (Date.now() - started) / 1000;
  clearInterval(sampler);
  const senderEnd = (await bobDone).transfer;

  t.is(await sha256File(join(alice.downloads, 'big.bin')), await sha256File(source));
  t.is(summary.size, size);
  t.true(peak.samples > 100, 'sampled during the transfer');
  t.true(peak.senderInFlight > 0 && peak.senderInFlight <= windowBytes, `sender in flight ${peak.senderInFlight} <= ${windowBytes}`);
  t.true(peak.senderChunks <= DEFAULT_WINDOW, `sender chunk buffers ${peak.senderChunks} <= ${DEFAULT_WINDOW}`);
  t.true(peak.receiverInFlight <= windowBytes, `receiver unwritten ${peak.receiverInFlight} <= ${windowBytes}`);
  t.true(peak.receiverChunks <= DEFAULT_WINDOW, `receiver chunks ${peak.receiverChunks} <= ${DEFAULT_WINDOW}`);
  t.true(peak.queued <= queueBound, `connection queue ${peak.queued} <= ${queueBound}`);
  // The engines' own peaks see every change, not only the sampled moments.
  t.true(senderEnd.peakInFlightBytes <= windowBytes && senderEnd.peakBufferedChunks <= DEFAULT_WINDOW);
  const receiverEnd = alice.engine.transfers[0]!;
  t.true(receiverEnd.peakInFlightBytes <= windowBytes && receiverEnd.peakBufferedChunks <= DEFAULT_WINDOW);
  t.log(
    `200 MB in ${seconds.toFixed(2)} s (${formatSummary(summary)}); peaks: sender in flight ${senderEnd.peakInFlightBytes} B / ` +
      `${senderEnd.peakBufferedChunks} buffers, receiver unwritten ${receiverEnd.peakInFlightBytes} B / ${receiverEnd.peakBufferedChunks} chunks, ` +
      `queue ${peak.queued} B`,
  );
});

test('a chat message sent mid-transfer arrives before the transfer ends, and the chat layer sees no transfer message', async (t) => {
  t.timeout(60_000);
  const { alice, bob, a, b } = await makePair(t);
  await writePattern(join(bob.share, 'big.bin'), 32 * 1024 * 1024, 5);
  const order: string[] = [];
  const chat: string[] = [];
  a.messages$.pipe(skipTransferMessages()).subscribe(({ header }) => {
    chat.push(header['info'] ?? '?');
    order.push('chat');
  });
  const aliceDone = nextEvent(alice.engine.events$, 'done', undefined, 50_000).then(() => order.push('done'));

  const transfer = alice.engine.get(a, 'big.bin');
  // Once data flows from Bob, Bob chats on the same connection, in the same direction as the data.
  await nextEvent(bob.engine.events$, 'progress');
  await b.send({ info: 'still here' });
  await bounded(transfer.done, 'the transfer', 50_000);
  await aliceDone;

  t.deepEqual(chat, ['still here']);
  t.deepEqual(order, ['chat', 'done']);
});

test('put and get run at once in both directions on one connection, each byte-identical', async (t) => {
  t.timeout(60_000);
  const { alice, bob, a, b, root } = await makePair(t, { chunkBytes: 64 * 1024 });
  const sizes = { aliceShare: 3_000_001, bobShare: 2_500_003, aliceUp: 1_700_000, bobUp: 2_100_007 };
  await writePattern(join(alice.share, 'from-alice.bin'), sizes.aliceShare, 11);
  await writePattern(join(bob.share, 'from-bob.bin'), sizes.bobShare, 12);
  await writePattern(join(root, 'alice-up.bin'), sizes.aliceUp, 13);
  await writePattern(join(root, 'bob-up.bin'), sizes.bobUp, 14);

  const transfers = [
    alice.engine.get(a, 'from-bob.bin'),
    bob.engine.get(b, 'from-alice.bin'),
    alice.engine.put(a, join(root, 'alice-up.bin')),
    bob.engine.put(b, join(root, 'bob-up.bin')),
  ];
  // All four are active together before any ends.
  await bounded(
    (async () => {
      while (!transfers.every((tr) => tr.snapshot().state === 'active' || tr.snapshot().state === 'verifying')) {
        if (transfers.some((tr) => ['done', 'failed', 'cancelled'].includes(tr.snapshot().state))) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })(),
    'four active transfers',
  );
  const summaries = await bounded(Promise.all(transfers.map((tr) => tr.done)), 'the four transfers', 50_000);

  t.is(await sha256File(join(alice.downloads, 'from-bob.bin')), await sha256File(join(bob.share, 'from-bob.bin')));
  t.is(await sha256File(join(bob.downloads, 'from-alice.bin')), await sha256File(join(alice.share, 'from-alice.bin')));
  t.is(await sha256File(join(bob.downloads, 'alice-up.bin')), await sha256File(join(root, 'alice-up.bin')));
  t.is(await sha256File(join(alice.downloads, 'bob-up.bin')), await sha256File(join(root, 'bob-up.bin')));
  t.deepEqual(
    summaries.map((s) => s.size),
    [sizes.bobShare, sizes.aliceShare, sizes.aliceUp, sizes.bobUp],
  );
  // Each engine lists its own two transfers and the two the peer started.
  t.deepEqual(alice.engine.transfers.map((s) => `${s.initiator} ${s.kind} ${s.direction} ${s.state}`).sort(), [
    'local get receive done',
    'local put send done',
    'peer get send done',
    'peer put receive done',
  ]);
});

test('get as another name publishes under that name', async (t) => {
  const { alice, bob, a } = await makePair(t);
  await writeFile(join(bob.share, 'report.txt'), 'quarterly');

  const summary = await bounded(alice.engine.get(a, 'report.txt', 'copy.txt').done, 'the get');

  t.deepEqual(await namesIn(alice.downloads), ['copy.txt']);
  t.is(summary.path, join(alice.downloads, 'copy.txt'));
  t.is((await stat(join(alice.downloads, 'copy.txt'))).size, 9);
});

test('when the receiver stops reading, the sender stops writing chunks once the connection\'s queue reaches queueBytes', async (t) => {
  const chunkBytes = 64 * 1024;
  const queueBytes = 256 * 1024;
  // A window far larger than the queue budget, so only the queue check holds the sender back.
  const { alice, bob, a, b } = await makePair(t, { chunkBytes, window: 64, queueBytes });
  await writePattern(join(bob.share, 'f.bin'), 8 * 1024 * 1024, 41);
  a.socket.pause(); // Alice reads nothing: Bob's frames pile up in his queue.

  const transfer = alice.engine.get(a, 'f.bin');
  // A chunk is written only when it fits under queueBytes (or the queue is empty).
  const frame = chunkBytes + CHUNK_FRAME_OVERHEAD;
  const full = (): boolean => b.queuedBytes + frame > queueBytes;
  let peak = 0;
  for (let turns = 0; turns < 100_000 && !full(); turns++) await new Promise((resolve) => setImmediate(resolve));
  t.true(full(), 'the queue filled up to within one chunk of queueBytes');
  // Many more turns of the event loop: the sender must be waiting, not writing.
  for (let turns = 0; turns < 200; turns++) {
    peak = Math.max(peak, b.queuedBytes);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const chat = b.send({ info: 'queued behind at most queueBytes of file data' });
  t.true(peak <= queueBytes, `queue ${peak} <= ${queueBytes}`);
  t.true(bob.engine.memory.inFlightBytes <= queueBytes, 'no more chunks are read than the queue lets out');

  a.socket.resume();
  await bounded(chat, 'the chat line');
  await bounded(transfer.done, 'the transfer after reading resumed');
  t.is(await sha256File(join(alice.downloads, 'f.bin')), await sha256File(join(bob.share, 'f.bin')));
});

test('file names holding ":" and ";" travel intact (they are carried in the content)', async (t) => {
  const { alice, bob, a } = await makePair(t);
  const name = 'minutes 10:30; draft.txt';
  await writeFile(join(bob.share, name), 'agenda');

  t.deepEqual(await bounded(alice.engine.list(a), 'the listing'), [{ name, size: 6 }]);
  await bounded(alice.engine.get(a, name).done, 'the get');
  t.deepEqual(await namesIn(alice.downloads), [name]);
});

test('a peer that runs no transfer engine (the original program, say) makes requests time out with a typed error', async (t) => {
  const root = await tempDir(t);
  const alice = await makePeer(t, root, 'alice', { requestTimeoutMs: 100 });
  const [a] = connect(t);

  await t.throwsAsync(alice.engine.list(a), { code: ErrorCode.TransferTimeout, message: /no answer to ls within 100 ms/ });
  await t.throwsAsync(bounded(alice.engine.get(a, 'x.bin').done, 'the get'), { code: ErrorCode.TransferTimeout });
  t.deepEqual(await namesIn(alice.downloads), [], 'the empty part file is removed');
});
