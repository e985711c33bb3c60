/**
 * The filer peer over loopback: its reports and its address book against a hand-driven tracker
 * (self-exclusion whatever address the tracker sees it at), discovery through a real tracker,
 * ports, chat in the seed's vocabulary, the connecting side's check, and transfers in both
 * directions at once.
 */
import { mkdir } from 'node:fs/promises';
import { createServer, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { VirtualTimeScheduler, filter, firstValueFrom, map, toArray } from 'rxjs';
import { InvalidOptionError } from '../lib/errors.js';
import { AddressBook } from '../lib/filer/address-book.js';
import { PortsInUseError, UnknownPeerError } from '../lib/errors.js';
import { Peer, type PeerEvent, type PeerOptions } from '../lib/filer/peer.js';
import { Tracker } from '../lib/filer/tracker.js';
import { BROADCAST_HEADER } from '../lib/filer/vocabulary.js';
import type { Server } from '../lib/hub/server.js';
import type { Messenger } from '../lib/connection/messenger.js';
import type { Message } from '../lib/protocol/message.js';
import { FrameDecoder } from '../lib/protocol/decoder.js';
import { next, startServer, waitFor, within } from './helpers/loopback.js';
import { makePair, sha256File, tempDir, writePattern } from './helpers/transfer.js';

/** A peer on 127.0.0.1 with folders of its own under a temporary root; stopped in teardown. */
async function startPeer(t: ExecutionContext, id: string, options: Partial<PeerOptions> = {}): Promise<Peer & { share: string; downloads: string }> {
  const root = await tempDir(t, `rx-tcp-hub-peer-${id}-`);
  const share = join(root, 'share');
  const downloads = join(root, 'downloads');
  await mkdir(share);
  const peer = await Peer.start({ id, host: '127.0.0.1', port: 0, shareDir: share, downloadsDir: downloads, ...options });
  t.teardown(() => peer.stop());
  return Object.assign(peer, { share, downloads });
}

/** A stand-in tracker: a plain Server whose broadcasts the test writes by hand. */
async function handTracker(t: ExecutionContext): Promise<{ server: Server; reports: Message[]; connection: () => Promise<Messenger> }> {
  const server = await startServer(t);
  const reports: Message[] = [];
  server.incoming$.subscribe(({ header, content }) => reports.push({ header, content }));
  const connection = () => next(server.connections$.pipe(filter((e) => e.type === 'open'), map((e) => e.messenger)));
  return { server, reports, connection };
}

const tracker = (server: Server) => ({ host: '127.0.0.1', port: server.address.port });

/** The peer's next address-book event. */
const nextBook = (peer: Peer) => next(peer.events$.pipe(filter((e): e is Extract<PeerEvent, { type: 'address-book' }> => e.type === 'address-book')));

// Reports and the address book

test('the peer reports {ID, Port} to the tracker at once and every interval, in the seed vocabulary', async (t) => {
  const { server, reports } = await handTracker(t);
  const alice = await startPeer(t, 'alice', { tracker: tracker(server), reportIntervalMs: 50 });
  await waitFor(() => reports.length >= 3, 'three reports');
  for (const { header, content } of reports) {
    t.deepEqual({ ...header }, { ID: 'alice', Port: String(alice.address.port) });
    t.is(content.length, 0);
  }
});

test('the address book leaves the peer out when the tracker sees it as 127.0.0.1', async (t) => {
  const { server, connection } = await handTracker(t);
  const opened = connection();
  const alice = await startPeer(t, 'alice', { tracker: tracker(server) });
  const link = await opened;
  const book = nextBook(alice);
  await link.send(BROADCAST_HEADER, Buffer.from(`alice,127.0.0.1,${alice.address.port};bob,127.0.0.1,4000`));
  const change = await book;
  t.deepEqual(change.entries, [{ id: 'bob', host: '127.0.0.1', port: 4000 }]);
  t.deepEqual(alice.addressBook, [{ id: 'bob', host: '127.0.0.1', port: 4000 }]);
  t.deepEqual(change.sameName, []);
});

test('the address book leaves the peer out when the tracker sees it at another address (seed defect 11)', async (t) => {
  const { server, connection } = await handTracker(t);
  const opened = connection();
  const alice = await startPeer(t, 'alice', { tracker: tracker(server) });
  const link = await opened;
  const first = nextBook(alice);
  // Only text: nothing is sent to these addresses.
  await link.send(BROADCAST_HEADER, Buffer.from(`bob,10.1.2.4,63330;alice,10.1.2.3,${alice.address.port};carol,10.1.2.5,63331`));
  t.deepEqual((await first).entries, [
    { id: 'bob', host: '10.1.2.4', port: 63330 },
    { id: 'carol', host: '10.1.2.5', port: 63331 },
  ]);
  // The next table: carol left, bob moved, and someone else reports the name alice from another port.
  const second = nextBook(alice);
  await link.send(BROADCAST_HEADER, Buffer.from(`alice,10.9.9.9,${alice.address.port + 1};bob,10.1.2.6,63330`));
  const change = await second;
  t.deepEqual(change.entries, [{ id: 'bob', host: '10.1.2.6', port: 63330 }]);
  t.deepEqual(change.left, [{ id: 'carol', host: '10.1.2.5', port: 63331 }]);
  t.deepEqual(change.moved, [{ id: 'bob', host: '10.1.2.6', port: 63330 }]);
  t.deepEqual(change.sameName, [{ id: 'alice', host: '10.9.9.9', port: alice.address.port + 1 }]);
});

test('an address book update says who joined, moved and left, and never lists its owner', (t) => {
  const book = new AddressBook({ id: 'me', port: 7000 });
  t.deepEqual(book.update([{ id: 'me', host: '127.0.0.1', port: 7000 }, { id: 'a', host: '10.0.0.1', port: 1 }]), {
    joined: [{ id: 'a', host: '10.0.0.1', port: 1 }],
    left: [],
    moved: [],
    sameName: [],
  });
  t.deepEqual(book.update([{ id: 'me', host: '10.1.2.3', port: 7000 }, { id: 'a', host: '10.0.0.1', port: 2 }, { id: 'b', host: '10.0.0.2', port: 1 }]), {
    joined: [{ id: 'b', host: '10.0.0.2', port: 1 }],
    left: [],
    moved: [{ id: 'a', host: '10.0.0.1', port: 2 }],
    sameName: [],
  });
  t.deepEqual(book.update([{ id: 'me', host: '10.1.2.3', port: 7001 }]).left.map((e) => e.id), ['a', 'b']);
  t.deepEqual(book.entries, []);
  t.is(book.at('10.0.0.1', 2), undefined);
});

test('two peers find each other through a real tracker, each listing only the other', async (t) => {
  const real = await Tracker.listen({ host: '127.0.0.1', port: 0, intervalMs: 50, expireMs: 500 });
  t.teardown(() => real.stop());
  const address = { host: '127.0.0.1', port: real.server!.address.port };
  const alice = await startPeer(t, 'alice', { tracker: address, reportIntervalMs: 50 });
  const bob = await startPeer(t, 'bob', { tracker: address, reportIntervalMs: 50 });
  const listed = (peer: Peer, id: string) => firstValueFrom(peer.addressBook$.pipe(filter((book) => book.some((e) => e.id === id))));
  await within(Promise.all([listed(alice, 'bob'), listed(bob, 'alice')]), 'both address books');
  t.deepEqual(alice.addressBook, [{ id: 'bob', host: '127.0.0.1', port: bob.address.port }]);
  t.deepEqual(bob.addressBook, [{ id: 'alice', host: '127.0.0.1', port: alice.address.port }]);

  // bob goes: alice's book empties once the tracker drops him.
  const gone = firstValueFrom(alice.addressBook$.pipe(filter((book) => book.length === 0)));
  await bob.stop();
  await within(gone, 'bob to leave the address book');
  t.pass();
});

test('the peer reports again after the tracker comes back on the same port', async (t) => {
  const first = await handTracker(t);
  const port = first.server.address.port;
  await startPeer(t, 'alice', { tracker: { host: '127.0.0.1', port }, reportIntervalMs: 50, trackerDial: { initialMs: 20, maxMs: 100 } });
  await waitFor(() => first.reports.length >= 1, 'a report');
  await first.server.stop();
  const { Server } = await import('../lib/hub/server.js');
  const second = await Server.listen({ host: '127.0.0.1', port });
  t.teardown(() => second.stop());
  const report = await next(second.incoming$);
  t.is(report.header['ID'], 'alice');
});

// Listening

test('a peer whose start port is taken listens on the next one, and with one attempt it fails with PortsInUseError', async (t) => {
  const blocker: NetServer = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const taken = (blocker.address() as { port: number }).port;
  const root = await tempDir(t);
  const peer = await Peer.start({ id: 'p', port: taken, shareDir: root, downloadsDir: join(root, 'dl') });
  t.teardown(() => peer.stop());
  t.true(peer.address.port > taken && peer.address.port < taken + 100, `got ${peer.address.port} after ${taken}`);
  const error = await t.throwsAsync(Peer.start({ id: 'q', port: taken, portAttempts: 1, shareDir: root, downloadsDir: root }), { instanceOf: PortsInUseError });
  t.is(error!.code, 'ERR_PORTS_IN_USE');
});

test('Peer.start refuses a bad name, a missing shared folder and a bad tracker address, naming the option', async (t) => {
  const root = await tempDir(t);
  for (const [options, name] of [
    [{ id: 'al ice' }, 'id'],
    [{ id: 'a,b' }, 'id'],
    [{ id: '' }, 'id'],
    [{ id: 'a', shareDir: join(root, 'missing') }, 'shareDir'],
    [{ id: 'a', tracker: { host: '127.0.0.1', port: 0 } }, 'tracker'],
    [{ id: 'a', reportIntervalMs: 0 }, 'reportIntervalMs'],
  ] as const) {
    const error = await t.throwsAsync(Peer.start({ port: 0, shareDir: root, downloadsDir: root, ...options }), { instanceOf: InvalidOptionError });
    t.regex(error!.message, new RegExp(name));
  }
});

// Connections and chat

test('a peer named by host:port is connected on demand and its connection reused; chat with ":" arrives intact as content', async (t) => {
  const alice = await startPeer(t, 'alice');
  const bob = await startPeer(t, 'bob');
  const bobAt = `127.0.0.1:${bob.address.port}`;
  const first = await alice.connect(bobAt);
  const again = await alice.connectionTo(bobAt);
  t.is(again, first);
  t.is(first.direction, 'out');
  t.is(first.id, 'out1');

  const messages = bob.events$.pipe(
    filter((e): e is Extract<PeerEvent, { type: 'message' }> => e.type === 'message'),
    map((e) => ({ from: e.connection.id, direction: e.connection.direction, header: { ...e.header }, content: e.content.toString(), text: e.text })),
  );
  const received: unknown[] = [];
  const subscription = messages.subscribe((m) => received.push(m));
  t.teardown(() => subscription.unsubscribe());
  await alice.send(bobAt, 'hello bob');
  await alice.send('out1', 'meet at 9:30; room 2');
  await waitFor(() => received.length === 2, 'two messages');
  t.deepEqual(received, [
    { from: 'in1', direction: 'in', header: { info: 'hello bob' }, content: '', text: 'hello bob' },
    { from: 'in1', direction: 'in', header: { info: '' }, content: 'meet at 9:30; room 2', text: 'meet at 9:30; room 2' },
  ]);
  t.deepEqual(
    bob.connections.map((c) => [c.id, c.direction]),
    [['in1', 'in']],
  );
});

test('a peer named by its address-book name is dialled at the listed address and labelled with the name', async (t) => {
  const real = await Tracker.listen({ host: '127.0.0.1', port: 0, intervalMs: 50 });
  t.teardown(() => real.stop());
  const address = { host: '127.0.0.1', port: real.server!.address.port };
  const alice = await startPeer(t, 'alice', { tracker: address, reportIntervalMs: 50 });
  const bob = await startPeer(t, 'bob', { tracker: address, reportIntervalMs: 50 });
  await within(firstValueFrom(alice.addressBook$.pipe(filter((book) => book.some((e) => e.id === 'bob')))), 'bob in the book');
  const [a, b] = await Promise.all([alice.connect('bob'), alice.connect('bob')]);
  t.is(a, b, 'two connects at once make one connection');
  t.is(a.peer, 'bob');
  t.is(a.messenger.addr.port, bob.address.port);
  await t.throwsAsync(alice.connect('nobody'), { instanceOf: UnknownPeerError, code: 'ERR_UNKNOWN_PEER' });
  await t.throwsAsync(alice.send('nobody', 'hi'), { instanceOf: UnknownPeerError });
});

test('broadcast reaches every open connection, both directions', async (t) => {
  const alice = await startPeer(t, 'alice');
  const bob = await startPeer(t, 'bob');
  const carol = await startPeer(t, 'carol');
  await alice.connect(`127.0.0.1:${bob.address.port}`); // alice → bob
  await carol.connect(`127.0.0.1:${alice.address.port}`); // carol → alice
  await waitFor(() => alice.connections.length === 2, 'alice to hold both connections');
  const heard = (peer: Peer) => next(peer.events$.pipe(filter((e) => e.type === 'message'), map((e) => (e as { text?: string }).text)));
  const [atBob, atCarol] = [heard(bob), heard(carol)];
  const outcomes = await alice.broadcast('hello all');
  t.deepEqual(
    outcomes.map((o) => [o.target.id, o.ok]),
    [
      ['in1', true],
      ['out1', true],
    ],
  );
  t.deepEqual(await Promise.all([atBob, atCarol]), ['hello all', 'hello all']);
});

test('the connecting side sends exactly {TP: "Check"} when checkAfterMs has passed, as the seed did', async (t) => {
  const raw: NetServer = createServer();
  const bytes: Buffer[] = [];
  raw.on('connection', (socket) => socket.on('data', (chunk: Buffer) => bytes.push(chunk)));
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => raw.close(() => resolve())));
  const alice = await startPeer(t, 'alice', { checkAfterMs: 100 });
  const started = Date.now();
  await alice.send(`127.0.0.1:${(raw.address() as { port: number }).port}`, 'hi');
  const messages: Message[] = [];
  const decoder = new FrameDecoder();
  let read = 0;
  await waitFor(() => {
    for (; read < bytes.length; read++) decoder.push(bytes[read]!, (m) => messages.push(m));
    return messages.length >= 2;
  }, 'the check');
  t.true(Date.now() - started >= 90);
  t.deepEqual(
    messages.map((m) => ({ ...m.header })),
    [{ info: 'hi' }, { TP: 'Check' }],
  );
  t.true(Buffer.concat(bytes).includes(Buffer.from('0d00434c3a303b54503a436865636b', 'hex')), 'the frame 0d 00 "CL:0;TP:Check"');
});

// Transfers

test('put and get at once in both directions between two peers, every file byte-identical', async (t) => {
  t.timeout(60_000);
  const alice = await startPeer(t, 'alice');
  const bob = await startPeer(t, 'bob');
  const size = 6 * 1024 * 1024 + 12345;
  await writePattern(join(alice.share, 'from-alice.bin'), size, 1);
  await writePattern(join(bob.share, 'from-bob.bin'), size, 2);
  const root = await tempDir(t);
  await writePattern(join(root, 'alice-put.bin'), size, 3);
  await writePattern(join(root, 'bob-put.bin'), size, 4);
  const aliceAt = `127.0.0.1:${alice.address.port}`;
  const bobAt = `127.0.0.1:${bob.address.port}`;

  const transfers = await Promise.all([
    alice.get(bobAt, 'from-bob.bin'),
    alice.put(bobAt, join(root, 'alice-put.bin')),
    bob.get(aliceAt, 'from-alice.bin'),
    bob.put(aliceAt, join(root, 'bob-put.bin')),
  ]);
  const summaries = await within(Promise.all(transfers.map((transfer) => transfer.done)), 'the four transfers', 45_000);
  t.true(summaries.every((s) => s.verified && s.size === size));
  const pairs = [
    [join(bob.share, 'from-bob.bin'), join(alice.downloads, 'from-bob.bin')],
    [join(root, 'alice-put.bin'), join(bob.downloads, 'alice-put.bin')],
    [join(alice.share, 'from-alice.bin'), join(bob.downloads, 'from-alice.bin')],
    [join(root, 'bob-put.bin'), join(alice.downloads, 'bob-put.bin')],
  ];
  for (const [source, copy] of pairs) t.is(await sha256File(copy!), await sha256File(source!), copy);
  // Each peer dialled the other: one connection each way, both carrying transfers.
  t.deepEqual(alice.connections.map((c) => c.direction).sort(), ['in', 'out']);
  t.deepEqual(bob.connections.map((c) => c.direction).sort(), ['in', 'out']);
});

test('ls lists a peer\'s shared files, and stop() ends everything: connections closed, events$ and the address book completed', async (t) => {
  const alice = await startPeer(t, 'alice');
  const bob = await startPeer(t, 'bob');
  await writePattern(join(bob.share, 'b.bin'), 1000, 1);
  await writePattern(join(bob.share, 'a.bin'), 10, 1);
  t.deepEqual(await alice.list(`127.0.0.1:${bob.address.port}`), [
    { name: 'a.bin', size: 10 },
    { name: 'b.bin', size: 1000 },
  ]);
  const events = firstValueFrom(alice.events$.pipe(map((e) => e.type), toArray()));
  const books = firstValueFrom(alice.addressBook$.pipe(toArray()));
  await alice.stop();
  t.deepEqual(await events, ['close']);
  t.deepEqual(await books, [[]]);
  t.deepEqual(alice.connections, []);
});

// A fix in the transfer engine, found by the console tests: a request cancelled while its file was
// being prepared still went to the peer afterwards and armed a timer nobody cleared, which held
// the console's process open for requestTimeoutMs after quit.

test('a get or put cancelled while its file is being prepared never reaches the peer and leaves no timer behind', async (t) => {
  const scheduler = new VirtualTimeScheduler();
  const { alice, a, b, root } = await makePair(t, { scheduler });
  await writePattern(join(root, 'up.bin'), 1000, 1);
  const seen: string[] = [];
  b.messages$.subscribe(({ header }) => seen.push(header['ft'] ?? '?'));
  for (const start of [() => alice.engine.get(a, 'x.bin'), () => alice.engine.put(a, join(root, 'up.bin'))]) {
    const transfer = start();
    // The request's file work has begun (it waits for the disk) when the cancel comes.
    await Promise.resolve();
    await Promise.resolve();
    t.true(transfer.cancel());
    await transfer.done.catch(() => undefined);
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(seen, []);
  t.is(scheduler.actions.length, 0, 'no request timer left');
});
