// Run: npx tsx playground/05-filer.ts
//
// The filer from code: a `Tracker`, two `Peer`s and a peer of the original program played by hand
// with raw frames. The tracker's vocabulary on the wire, address books without their owner, chat,
// a put and a get at once in both directions, refusals, a cancel, and a peer that goes silent.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom, interval } from 'rxjs';
import { Client, encodeFrame, formatAddress, type TransferError } from '../lib/index.js';
import { Peer, Tracker, decodePeerList, formatSummary, isBroadcast, reportHeader, type PeerEvent } from '../lib/filer/index.js';
import { cell, say, within } from './helpers.js';

const root = await mkdtemp(join(tmpdir(), 'rx-tcp-hub-05-'));
const folders = async (name: string) => {
  const share = join(root, name, 'share');
  await mkdir(share, { recursive: true });
  return { shareDir: share, downloadsDir: join(root, name, 'downloads') };
};

// %% The tracker keeps a table of whoever reports `{ID, Port}` and sends it to them all every
// interval. Its timing runs on a scheduler: `new Tracker(hub, { scheduler })` takes a TestScheduler.
cell('1. A tracker, and a peer of the original program speaking to it in raw frames');
const tracker = await Tracker.listen({ host: '127.0.0.1', port: 0, intervalMs: 200, expireMs: 800 });
const trackerAt = tracker.server!.address;
say('tracker', `listening on ${formatAddress(trackerAt)}`);
tracker.events$.subscribe((e) => {
  if (e.type === 'join' || e.type === 'leave') say('tracker', `${e.type} ${e.peer.id} ${formatAddress(e.peer)}${e.type === 'leave' ? ` (${e.reason})` : ''}`);
});
const stanClient = new Client();
const stan = await firstValueFrom(stanClient.connect(trackerAt.host, trackerAt.port).pipe(within("stan's dial")));
const report = reportHeader('stan', 63330);
say('stan', `reports ${JSON.stringify(report)}: ${encodeFrame(report).map((b) => b.toString('hex')).join('')}`);
const stanReports = interval(200).subscribe(() => void stan.send(report).catch(() => undefined));
void stan.send(report);
const table = await firstValueFrom(stan.messages$.pipe(filter(isBroadcast), within('the first table')));
say('stan', `hears {Broadcast: ""} + "${table.content.toString()}"`);

// %% Peers report the port they listen on, and keep an address book from the tables: every
// other peer, never themselves, whatever address the tracker sees them at.
cell('2. Two peers join; each address book leaves its owner out');
const alice = await Peer.start({ id: 'alice', port: 0, tracker: trackerAt, reportIntervalMs: 200, ...(await folders('alice')) });
const bob = await Peer.start({ id: 'bob', port: 0, tracker: trackerAt, reportIntervalMs: 200, ...(await folders('bob')) });
const bookOf = (peer: Peer, size: number) =>
  firstValueFrom(peer.addressBook$.pipe(filter((book) => book.length === size), within(`${peer.id}'s address book`)));
for (const peer of [alice, bob]) {
  const book = await bookOf(peer, 2);
  say(peer.id, `address book: ${book.map((e) => `${e.id} ${formatAddress(e)}`).join(', ')}`);
}
say('stan', `the table now: ${decodePeerList((await firstValueFrom(stan.messages$.pipe(filter(isBroadcast)))).content).entries.map((e) => e.id).join(', ')}`);

// %% Chat is the seed's `{info: text}`; text a header value cannot hold travels as content.
cell('3. Chat: by name, connected on demand');
const nextMessage = (peer: Peer) =>
  firstValueFrom(peer.events$.pipe(filter((e): e is Extract<PeerEvent, { type: 'message' }> => e.type === 'message'), within(`a message at ${peer.id}`)));
const atBob = nextMessage(bob);
const connection = await alice.send('bob', 'files at 10:00; bring yours');
say('alice', `sent on ${connection.id} (to ${connection.peer})`);
const message = await atBob;
say('bob', `on ${message.connection.id}: header ${JSON.stringify(message.header)}, content "${message.content.toString()}"`);

// %% Both peers serve each other's requests on every connection: four transfers at once.
cell('4. A put and a get at once, in both directions');
await writeFile(join(alice.engine.options.shareDir, 'a.txt'), 'shared by alice\n'.repeat(50_000));
await writeFile(join(bob.engine.options.shareDir, 'b.txt'), 'shared by bob\n'.repeat(50_000));
await writeFile(join(root, 'note-from-alice.txt'), 'alice was here\n');
await writeFile(join(root, 'note-from-bob.txt'), 'bob was here\n');
const transfers = await Promise.all([
  alice.get('bob', 'b.txt'),
  alice.put('bob', join(root, 'note-from-alice.txt')),
  bob.get('alice', 'a.txt'),
  bob.put('alice', join(root, 'note-from-bob.txt')),
]);
const summaries = await Promise.all(transfers.map((t) => t.done));
summaries.forEach((summary, i) => say(i < 2 ? 'alice' : 'bob', formatSummary(summary)));
say('alice', `downloads: ${(await readdir(alice.engine.options.downloadsDir)).join(', ')}`);
say('bob', `downloads: ${(await readdir(bob.engine.options.downloadsDir)).join(', ')}`);

// %% Names that would leave the shared folder are refused; so is a name that is not there.
cell('5. Refusals');
for (const name of ['../../etc/passwd', '/etc/passwd', 'missing.bin']) {
  const refused = await (await alice.get('bob', name)).done.then(
    () => 'accepted?!',
    (error: TransferError) => `${error.code}: ${error.message}`,
  );
  say('alice', `get ${name} -> ${refused}`);
}

// %% A cancel stops a transfer on both sides; nothing appears under the final name.
cell('6. Cancel');
await writeFile(join(bob.engine.options.shareDir, 'big.bin'), Buffer.alloc(64 * 1024 * 1024, 7));
const big = await alice.get('bob', 'big.bin');
await firstValueFrom(alice.engine.events$.pipe(filter((e) => e.type === 'progress' && e.transfer.id === big.id), within('the first chunk')));
say('alice', `cancel ${big.id}: ${alice.cancel(big.id)}`);
say('alice', `${big.id} ended: ${await big.done.then(() => 'done?!', (error: TransferError) => error.code)}`);
say('alice', `downloads: ${(await readdir(alice.engine.options.downloadsDir)).join(', ')}`);

// %% A peer that stops reporting but stays connected leaves the table once `expireMs` passes.
cell('7. stan goes silent');
stanReports.unsubscribe();
await bookOf(alice, 1);
say('alice', `address book: ${alice.addressBook.map((e) => e.id).join(', ')}`);

await Promise.all([alice.stop(), bob.stop(), stanClient.stop()]);
await tracker.stop();
await rm(root, { recursive: true, force: true });
say('all', 'stopped');
