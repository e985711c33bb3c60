/**
 * The transfer engine over real TCP on 127.0.0.1 (a Server on port 0 and a Client): transfers in
 * both directions with chat between them and the queue bounded, and a get cut by destroying the
 * socket, then resumed on a new connection.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { ErrorCode } from '../lib/errors.js';
import { CHUNK_FRAME_OVERHEAD } from '../lib/filer/transfer/link.js';
import { DEFAULT_QUEUE_BYTES } from '../lib/filer/transfer/options.js';
import { skipTransferMessages } from '../lib/filer/transfer/operators.js';
import { link, startClient, startServer } from './helpers/loopback.js';
import { bounded, makePeer, namesIn, nextEvent, sha256File, tempDir, writePattern } from './helpers/transfer.js';

const CHUNK = 128 * 1024;
const WINDOW = 8;

async function peersOverTcp(t: ExecutionContext) {
  const root = await tempDir(t);
  const options = { chunkBytes: CHUNK, window: WINDOW };
  const alice = await makePeer(t, root, 'alice', options);
  const bob = await makePeer(t, root, 'bob', options);
  const server = await startServer(t);
  const client = startClient(t);
  const attachAll = (): void => {
    server.connections$.subscribe((event) => event.type === 'open' && bob.engine.attach(event.messenger));
  };
  attachAll();
  const connection = async () => {
    const { client: a, server: b } = await link(server, client);
    alice.engine.attach(a);
    return { a, b };
  };
  return { root, alice, bob, server, client, connection };
}

test('over loopback TCP, a get and a put run at once with chat between them, byte-identical, the queue bounded', async (t) => {
  t.timeout(60_000);
  const { root, alice, bob, connection } = await peersOverTcp(t);
  const { a, b } = await connection();
  const size = 24 * 1024 * 1024;
  await writePattern(join(bob.share, 'down.bin'), size, 31);
  await writePattern(join(root, 'up.bin'), size, 32);
  // Each chat line notes the state of the transfer whose data travels the same way.
  const chat: string[] = [];
  const receiving = (engine: typeof alice.engine) => engine.transfers.find((s) => s.direction === 'receive')?.state;
  a.messages$.pipe(skipTransferMessages()).subscribe(({ header }) => chat.push(`bob: ${header['info']} (get ${receiving(alice.engine)})`));
  b.messages$.pipe(skipTransferMessages()).subscribe(({ header }) => chat.push(`alice: ${header['info']} (put ${receiving(bob.engine)})`));
  let peakQueue = 0;
  let peakInFlight = 0;
  const sample = (): void => {
    peakQueue = Math.max(peakQueue, a.queuedBytes, b.queuedBytes);
    peakInFlight = Math.max(peakInFlight, alice.engine.memory.inFlightBytes, bob.engine.memory.inFlightBytes);
  };
  alice.engine.events$.subscribe(sample);
  bob.engine.events$.subscribe(sample);
  const sampler = setInterval(sample, 1);
  t.teardown(() => clearInterval(sampler));

  const get = alice.engine.get(a, 'down.bin');
  const put = alice.engine.put(a, join(root, 'up.bin'));
  await nextEvent(bob.engine.events$, 'progress', (e) => e.transfer.direction === 'receive');
  await nextEvent(alice.engine.events$, 'progress', (e) => e.transfer.direction === 'receive');
  await b.send({ info: 'how is it going?' });
  await a.send({ info: 'fine' });
  await bounded(Promise.all([get.done, put.done]), 'both transfers', 50_000);

  t.is(await sha256File(join(alice.downloads, 'down.bin')), await sha256File(join(bob.share, 'down.bin')));
  t.is(await sha256File(join(bob.downloads, 'up.bin')), await sha256File(join(root, 'up.bin')));
  t.deepEqual(chat.sort(), ['alice: fine (put active)', 'bob: how is it going? (get active)']);
  // Two transfers on one connection, each within its window; the queue within queueBytes plus a chunk per transfer.
  t.true(peakInFlight <= 2 * 2 * WINDOW * CHUNK, `in flight ${peakInFlight}`);
  t.true(peakQueue <= DEFAULT_QUEUE_BYTES + 2 * (CHUNK + CHUNK_FRAME_OVERHEAD), `queue ${peakQueue}`);
  t.log(`peak queued ${peakQueue} B, peak in flight (both engines) ${peakInFlight} B`);
});

test('over loopback TCP, a get cut by destroying the socket resumes on a new connection, byte-identical', async (t) => {
  t.timeout(60_000);
  const { alice, bob, connection } = await peersOverTcp(t);
  const size = 16 * 1024 * 1024;
  await writePattern(join(bob.share, 'big.bin'), size, 33);
  const first = await connection();

  const cut = alice.engine.get(first.a, 'big.bin');
  await nextEvent(alice.engine.events$, 'progress', (e) => e.transfer.bytes >= 4 * 1024 * 1024);
  first.a.socket.destroy();
  await t.throwsAsync(bounded(cut.done, 'the cut get to fail'), { code: ErrorCode.TransferInterrupted });
  const kept = (await stat(join(alice.downloads, '.big.bin.part'))).size;
  t.false((await namesIn(alice.downloads)).includes('big.bin'));

  const second = await connection();
  const summary = await bounded(alice.engine.get(second.a, 'big.bin').done, 'the resumed get', 50_000);

  t.true(kept >= 4 * 1024 * 1024);
  t.is(summary.resumedFrom, kept);
  t.is(await sha256File(join(alice.downloads, 'big.bin')), await sha256File(join(bob.share, 'big.bin')));
  t.deepEqual(await namesIn(alice.downloads), ['big.bin']);
});
