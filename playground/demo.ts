// Run: npm start   (the same as: npx tsx playground/demo.ts)
//
// The filer demo: a tracker and two peers, alice and bob, on 127.0.0.1. They find each other
// through the tracker's table, chat (a line with ':' travels as content and arrives intact), and
// bob downloads an 8 MB file alice shares, with its progress shown and its SHA-256 verified before
// it appears under its name. Everything lives in a temporary folder, removed at the end.
// The same steps as commands typed in three terminals are in the README ("Filer").
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom } from 'rxjs';
import { formatAddress } from '../lib/index.js';
import { Peer, Tracker, formatBytes, formatSummary, type PeerEvent, type TransferSnapshot } from '../lib/filer/index.js';
import { progressLine } from '../lib/cli/progress.js';
import { say, within } from './helpers.js';

const started = Date.now();
const SIZE = 8 * 1024 * 1024;
console.log('rx-tcp-hub demo: the filer, a tracker and two peers that find each other, chat and move a file\n');

const root = await mkdtemp(join(tmpdir(), 'rx-tcp-hub-demo-'));
try {
  await demo(root);
} finally {
  await rm(root, { recursive: true, force: true });
}
console.log(`\ndone in ${Date.now() - started} ms`);

async function demo(root: string): Promise<void> {
  // The tracker: a table every 250 ms (the seed's 2 s, shortened for the demo).
  const tracker = await Tracker.listen({ host: '127.0.0.1', port: 0, intervalMs: 250, expireMs: 1000 });
  const trackerAt = tracker.server!.address;
  say('tracker', `listening on ${formatAddress(trackerAt)}`);
  tracker.events$.subscribe((event) => {
    if (event.type === 'join') say('tracker', `join ${event.peer.id} ${formatAddress(event.peer)}`);
    if (event.type === 'leave') say('tracker', `leave ${event.peer.id}: ${event.reason === 'closed' ? 'connection closed' : 'reports stopped'}`);
  });

  // Alice shares an 8 MB file; bob has an empty downloads folder.
  const folders = async (name: string) => {
    const share = join(root, name, 'share');
    await mkdir(share, { recursive: true });
    return { share, downloads: join(root, name, 'downloads') };
  };
  const aliceDirs = await folders('alice');
  const bobDirs = await folders('bob');
  const original = randomBytes(SIZE);
  await writeFile(join(aliceDirs.share, 'big.bin'), original);

  const options = { host: '127.0.0.1', port: 0, tracker: trackerAt, reportIntervalMs: 250 };
  const alice = await Peer.start({ id: 'alice', ...options, shareDir: aliceDirs.share, downloadsDir: aliceDirs.downloads });
  say('alice', `listening on ${formatAddress(alice.address)}, sharing big.bin (${formatBytes(SIZE)})`);
  const bob = await Peer.start({ id: 'bob', ...options, shareDir: bobDirs.share, downloadsDir: bobDirs.downloads });
  say('bob', `listening on ${formatAddress(bob.address)}`);
  for (const peer of [alice, bob]) peer.events$.subscribe((event) => show(peer.id, event));

  // Each finds the other in the tracker's table, and never itself.
  await Promise.all([listed(alice, 'bob'), listed(bob, 'alice')]);

  console.log('\n-- chat');
  const reply = heard(bob);
  const question = heard(alice);
  say('bob', '> send alice hi alice, what do you share?');
  await bob.send('alice', 'hi alice, what do you share?');
  const asked = await question;
  // A line with ':' cannot travel in a header value: it goes as content, and arrives intact.
  say('alice', `> send ${asked.connection.id} big.bin: 8 MB; take it`);
  await alice.send(asked.connection.id, 'big.bin: 8 MB; take it');
  await reply;

  console.log('\n-- ls and get');
  say('bob', '> ls alice');
  for (const file of await bob.list('alice')) say('bob', `  ${file.name}  ${formatBytes(file.size)}`);
  say('bob', '> get alice big.bin');
  // Progress at each quarter, drawn as the console draws its bar.
  let quarter = 0;
  const progress = bob.engine.events$.pipe(filter((e) => e.type === 'progress')).subscribe(({ transfer }) => {
    while (transfer.size && transfer.bytes >= ((quarter + 1) / 4) * transfer.size) {
      quarter++;
      say('bob', progressLine(transfer as TransferSnapshot, 20));
    }
  });
  const sent = firstValueFrom(alice.engine.events$.pipe(filter((e) => e.type === 'done'), within("alice's end of the transfer")));
  const download = await bob.get('alice', 'big.bin');
  const summary = await download.done;
  progress.unsubscribe();
  say('bob', formatSummary(summary));
  const aliceDone = await sent;
  if (aliceDone.type === 'done') say('alice', formatSummary(aliceDone.summary));
  const copy = await readFile(join(bobDirs.downloads, 'big.bin'));
  const same = createHash('sha256').update(copy).digest('hex') === createHash('sha256').update(original).digest('hex');
  say('bob', `downloads/big.bin: ${formatBytes(copy.length)}, ${same ? 'identical to alice\'s file' : 'DIFFERENT from alice\'s file'}`);
  if (!same) throw new Error('the copy differs from the original');

  console.log('\n-- bob leaves');
  const gone = firstValueFrom(alice.addressBook$.pipe(filter((book) => book.length === 0), within('bob to leave alice\'s address book')));
  await bob.stop();
  say('bob', 'stopped');
  await gone;
  await alice.stop();
  say('alice', 'stopped');
  await tracker.stop();
  say('tracker', 'stopped');
}

/** One line per peer event worth seeing. */
function show(who: string, event: PeerEvent): void {
  switch (event.type) {
    case 'address-book':
      for (const p of event.joined) say(who, `address book: ${p.id} at ${formatAddress(p)}`);
      for (const p of event.left) say(who, `address book: ${p.id} left`);
      return;
    case 'open':
      return say(who, `${event.connection.id} open (${event.connection.direction === 'in' ? 'from' : 'to'} ${event.connection.peer ?? formatAddress(event.connection.messenger.addr)})`);
    case 'message': {
      const how = Object.keys(event.header).includes('info') && event.header['info'] === '' ? ' (carried as content)' : '';
      return say(who, `message on ${event.connection.id}: ${event.text}${how}`);
    }
    default:
      return;
  }
}

/** Resolves once `name` is in the peer's address book. */
function listed(peer: Peer, name: string): Promise<unknown> {
  return firstValueFrom(peer.addressBook$.pipe(filter((book) => book.some((entry) => entry.id === name)), within(`${name} in ${peer.id}'s address book`)));
}

/** The peer's next chat message. */
function heard(peer: Peer): Promise<Extract<PeerEvent, { type: 'message' }>> {
  return firstValueFrom(
    peer.events$.pipe(
      filter((event): event is Extract<PeerEvent, { type: 'message' }> => event.type === 'message'),
      within(`a message at ${peer.id}`),
    ),
  );
}
