import test, { type ExecutionContext } from 'ava';
import { firstValueFrom, lastValueFrom, map, take, timeout, toArray, type Observable } from 'rxjs';
import { CloseReasonKind } from '../lib/connection/close-reason.js';
import type { Messenger } from '../lib/connection/messenger.js';
import { ErrorCode, FrameEncodeError, QueueFullError, UnknownConnectionError } from '../lib/errors.js';
import { Hub, type ConnectionEvent, type HubOptions } from '../lib/hub/hub.js';
import { closeOnFailure, relayToOthers, sendEach } from '../lib/hub/operators.js';
import { FrameDecoder } from '../lib/protocol/decoder.js';
import { MemoryHub, socketPair, type MemorySocket, type SocketPairOptions } from '../lib/testing/index.js';
import { rawPeer, socketClosed, startServer, within } from './helpers/loopback.js';

/** The longest any single wait in these tests may take before it fails the test. */
const WAIT_MS = 10_000;

/** The first `n` values of a stream, or a TimeoutError when it goes quiet. */
const firstValues = <T>(source$: Observable<T>, n = 1): Promise<T[]> =>
  firstValueFrom(source$.pipe(timeout(WAIT_MS), take(n), toArray()));

/** Every value of a stream until it completes, or a TimeoutError when it goes quiet. */
const allValues = <T>(source$: Observable<T>): Promise<T[]> => lastValueFrom(source$.pipe(timeout(WAIT_MS), toArray()));

/** Resolves once `condition()` holds, checking at each turn of the event loop; rejects after WAIT_MS. */
const eventually = async (condition: () => boolean): Promise<void> => {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition still false after ${WAIT_MS} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
};

/** The `info` of the next `n` messages a peer receives. */
const infos = (peer: Messenger, n = 1): Promise<string[]> =>
  firstValues(peer.messages$.pipe(map((m) => m.header['info'] ?? '')), n);

/** A connection event as plain values. */
const plainEvent = (event: ConnectionEvent) =>
  event.type === 'open'
    ? { type: event.type, id: event.messenger.id, alive: event.alive }
    : { type: event.type, id: event.messenger.id, alive: event.alive, reason: event.reason.reason };

/** A MemoryHub stopped when the test ends. */
const startHub = (t: ExecutionContext, options: HubOptions & SocketPairOptions = {}) => {
  const hub = new MemoryHub(options);
  t.teardown(() => hub.stop());
  return hub;
};

test('connections$ replays an open event for each live connection, then emits live events', async (t) => {
  const hub = startHub(t);
  hub.connectPeer();
  const second = hub.connectPeer();
  const events = firstValues(hub.connections$.pipe(map(plainEvent)), 4);
  hub.connectPeer();
  second.close();
  t.deepEqual(await events, [
    { type: 'open', id: 'c1', alive: 2 },
    { type: 'open', id: 'c2', alive: 2 },
    { type: 'open', id: 'c3', alive: 3 },
    { type: 'close', id: 'c2', alive: 2, reason: CloseReasonKind.PeerClosed },
  ]);
});

test('connections$ delivers the close of a connection closed while its open is being replayed', async (t) => {
  const hub = startHub(t);
  hub.connectPeer();
  hub.connectPeer();
  const events: ReturnType<typeof plainEvent>[] = [];
  const subscription = hub.connections$.subscribe((event) => {
    events.push(plainEvent(event));
    if (event.type === 'open' && event.messenger.id === 'c1') hub.closeConnection('c1');
  });
  t.teardown(() => subscription.unsubscribe());
  t.deepEqual(events, [
    { type: 'open', id: 'c1', alive: 2 },
    { type: 'open', id: 'c2', alive: 2 },
    { type: 'close', id: 'c1', alive: 1, reason: CloseReasonKind.Local },
  ]);
});

test('close events carry the number of connections still alive', async (t) => {
  const hub = startHub(t);
  const peers = [hub.connectPeer(), hub.connectPeer(), hub.connectPeer()];
  const [c1, c2, c3] = hub.messengers as [Messenger, Messenger, Messenger];
  const closes = firstValues(hub.connections$.pipe(map(plainEvent)), 6);
  peers[1]!.close();
  await firstValues(c2.closed$);
  hub.closeConnection(0);
  await firstValues(c1.closed$);
  peers[2]!.socket.destroy(); // an abrupt end: the hub sees a reset
  await firstValues(c3.closed$);
  t.deepEqual((await closes).slice(3), [
    { type: 'close', id: 'c2', alive: 2, reason: CloseReasonKind.PeerClosed },
    { type: 'close', id: 'c1', alive: 1, reason: CloseReasonKind.Local },
    { type: 'close', id: 'c3', alive: 0, reason: CloseReasonKind.Reset },
  ]);
  t.deepEqual(hub.messengers, []);
});

test('incoming$ delivers every message with its sender, including messages that arrived before anyone subscribed', async (t) => {
  const hub = startHub(t);
  const a = hub.connectPeer();
  const b = hub.connectPeer();
  await a.send({ info: 'a1' });
  await b.send({ info: 'b1' }, Buffer.from('content'));
  await a.send({ info: 'a2' });
  await eventually(() => hub.get('c1')?.stats().messagesIn === 2 && hub.get('c2')?.stats().messagesIn === 1);
  const received = firstValues(
    hub.incoming$.pipe(map(({ from, header, content }) => ({ from: from.id, info: header['info'], content: content.toString() }))),
    5,
  );
  await b.send({ info: 'b2' });
  await a.send({ info: 'a3' });
  const messages = await received;
  const from = (id: string) => messages.filter((m) => m.from === id);
  t.deepEqual(from('c1'), [
    { from: 'c1', info: 'a1', content: '' },
    { from: 'c1', info: 'a2', content: '' },
    { from: 'c1', info: 'a3', content: '' },
  ]);
  t.deepEqual(from('c2'), [
    { from: 'c2', info: 'b1', content: 'content' },
    { from: 'c2', info: 'b2', content: '' },
  ]);
});

test('incoming$ includes connections opened after the subscription', async (t) => {
  const hub = startHub(t);
  const received = firstValues(hub.incoming$.pipe(map(({ from, header }) => `${from.id}:${header['info']}`)), 1);
  const late = hub.connectPeer();
  await late.send({ info: 'late' });
  t.deepEqual(await received, ['c1:late']);
});

test('incoming$ includes a connection opened while the waiting messages are being delivered', async (t) => {
  const hub = startHub(t);
  const first = hub.connectPeer();
  await first.send({ info: 'waiting' });
  await eventually(() => hub.get('c1')?.stats().messagesIn === 1);
  let second: Messenger | undefined;
  const received = firstValues(
    hub.incoming$.pipe(
      map(({ from, header }) => {
        second ??= hub.connectPeer(); // opened from inside the delivery of the waiting message
        return `${from.id}:${header['info']}`;
      }),
    ),
    2,
  );
  await second!.send({ info: 'from the newcomer' });
  t.deepEqual(await received, ['c1:waiting', 'c2:from the newcomer']);
});

test('broadcast reaches every peer and reports one outcome per connection', async (t) => {
  const hub = startHub(t);
  const peers = [hub.connectPeer(), hub.connectPeer(), hub.connectPeer()];
  const received = peers.map((peer) => firstValues(peer.messages$.pipe(map((m) => [m.header['info'], m.content.toString()])), 1));
  const outcomes = await hub.broadcast({ info: 'news' }, Buffer.from('body'));
  t.deepEqual(
    outcomes.map((o) => ({ id: o.target.id, ok: o.ok })),
    [
      { id: 'c1', ok: true },
      { id: 'c2', ok: true },
      { id: 'c3', ok: true },
    ],
  );
  t.deepEqual(await Promise.all(received), [[['news', 'body']], [['news', 'body']], [['news', 'body']]]);
});

test('multicast reaches only the chosen connections', async (t) => {
  const hub = startHub(t);
  const [p1, p2, p3] = [hub.connectPeer(), hub.connectPeer(), hub.connectPeer()];
  const received = [p1, p2, p3].map((peer) => infos(peer, peer === p2 ? 1 : 2));
  const outcomes = await hub.multicast([0, 'c3'], { info: 'chosen' });
  t.deepEqual(
    outcomes.map((o) => ({ id: o.target.id, ok: o.ok })),
    [
      { id: 'c1', ok: true },
      { id: 'c3', ok: true },
    ],
  );
  // Frames on one connection keep their order: p2's first message is the one sent after.
  await hub.broadcast({ info: 'after' });
  t.deepEqual(await Promise.all(received), [['chosen', 'after'], ['after'], ['chosen', 'after']]);
});

test('send reaches one connection named by index, by id or by Messenger', async (t) => {
  const hub = startHub(t);
  const [p1, p2, p3] = [hub.connectPeer(), hub.connectPeer(), hub.connectPeer()];
  const received = [p1, p2, p3].map((peer) => infos(peer, 2));
  const outcomes = [
    await hub.send(0, { info: 'by index' }),
    await hub.send('c2', { info: 'by id' }),
    await hub.send(hub.messengers[2]!, { info: 'by messenger' }),
    await hub.send('1', { info: 'by index text' }),
  ];
  t.deepEqual(
    outcomes.map((o) => ({ id: o.target.id, ok: o.ok })),
    [
      { id: 'c1', ok: true },
      { id: 'c2', ok: true },
      { id: 'c3', ok: true },
      { id: 'c2', ok: true },
    ],
  );
  await hub.broadcast({ info: 'end' });
  t.deepEqual(await Promise.all(received), [
    ['by index', 'end'],
    ['by id', 'by index text'],
    ['by messenger', 'end'],
  ]);
});

test('send closes a connection whose send failed unless closeOnFail is false', async (t) => {
  const hub = startHub(t, { maxQueueBytes: 16 });
  hub.connectPeer();
  hub.connectPeer();
  const big = Buffer.alloc(32); // past maxQueueBytes: refused before anything is written
  const kept = await hub.send('c1', { info: 'x' }, big, { closeOnFail: false });
  t.false(kept.ok);
  t.true(!kept.ok && kept.error instanceof QueueFullError);
  t.is(hub.get('c1')?.closed, false);
  const closed = await hub.send('c2', { info: 'x' }, big);
  t.false(closed.ok);
  t.deepEqual(
    hub.messengers.map((m) => m.id),
    ['c1'],
  );
  t.is(closed.target.closeReason?.reason, CloseReasonKind.SlowConsumer);
});

test('send, multicast and closeConnection refuse a target that is not a live connection', async (t) => {
  const hub = startHub(t);
  const peer = hub.connectPeer();
  const gone = hub.connectPeer();
  const goneMessenger = hub.messengers[1]!;
  gone.close();
  await firstValues(goneMessenger.closed$);
  const unknown = { instanceOf: UnknownConnectionError, code: ErrorCode.UnknownConnection };
  await t.throwsAsync(hub.send(5, { info: 'x' }), unknown);
  await t.throwsAsync(hub.send('nobody', { info: 'x' }), unknown);
  await t.throwsAsync(hub.send(goneMessenger, { info: 'x' }), unknown);
  await t.throwsAsync(hub.multicast(['nobody'], { info: 'x' }), unknown);
  const outcomes = await hub.multicast([goneMessenger, 'c1'], { info: 'x' });
  t.deepEqual(
    outcomes.map((o) => (o.ok ? { id: o.target.id, ok: true } : { id: o.target.id, ok: false, code: o.error.code })),
    [
      { id: 'c2', ok: false, code: ErrorCode.UnknownConnection },
      { id: 'c1', ok: true },
    ],
  );
  t.false(hub.closeConnection('nobody'));
  t.deepEqual(await infos(peer), ['x']);
});

test('broadcast of a header the wire cannot carry rejects with FrameEncodeError and sends nothing', async (t) => {
  const hub = startHub(t);
  const peers = [hub.connectPeer(), hub.connectPeer()];
  const received = peers.map((peer) => infos(peer));
  await t.throwsAsync(hub.broadcast({ info: 'time 12:30' }), { instanceOf: FrameEncodeError, code: ErrorCode.HeaderValueInvalid });
  await t.throwsAsync(hub.send(0, { 'a;b': 'x' }), { instanceOf: FrameEncodeError, code: ErrorCode.HeaderKeyInvalid });
  await hub.broadcast({ info: 'next' });
  t.deepEqual(await Promise.all(received), [['next'], ['next']]);
  t.is(hub.messengers.length, 2, 'a refused message closes no connection');
});

test('broadcast closes a peer that stops reading as slow-consumer while the others get every message', async (t) => {
  const maxQueueBytes = 4096;
  const hub = startHub(t, { maxQueueBytes, bufferBytes: 1024 });
  const [p1, stalled, p3] = [hub.connectPeer(), hub.connectPeer(), hub.connectPeer()];
  const stalledMessenger = hub.get('c2')!;
  const count = 100;
  const received = [p1, p3].map((peer) => infos(peer, count));
  stalled.socket.pause();
  const sends = [];
  for (let i = 0; i < count; i++) {
    sends.push(hub.broadcast({ info: String(i) }, Buffer.alloc(100)));
    // Let each broadcast leave before the next (writes of one tick are corked together).
    await new Promise((resolve) => setImmediate(resolve));
  }
  const outcomes = (await Promise.all(sends)).flat();
  const expected = Array.from({ length: count }, (_, i) => String(i));
  t.deepEqual(await Promise.all(received), [expected, expected]);

  const [closed] = await firstValues(stalledMessenger.closed$);
  t.is(closed?.reason, CloseReasonKind.SlowConsumer);
  const error = closed?.error;
  t.true(error instanceof QueueFullError);
  if (error instanceof QueueFullError) {
    t.is(error.maxQueueBytes, maxQueueBytes);
    t.true(error.queuedBytes <= maxQueueBytes, 'the queue never passed its limit');
    t.true(error.queuedBytes + error.frameBytes > maxQueueBytes);
  }
  const refused = outcomes.filter((o) => !o.ok);
  t.true(refused.length > 0);
  t.true(refused.every((o) => o.target === stalledMessenger));
  t.deepEqual(
    hub.messengers.map((m) => m.id),
    ['c1', 'c3'],
  );
});

test('a custom chain relays each incoming chat line to everyone but its sender', async (t) => {
  const hub = startHub(t);
  const [alice, bob, carol] = [hub.connectPeer(), hub.connectPeer(), hub.connectPeer()];
  const relay = hub.incoming$
    .pipe(relayToOthers(() => hub.messengers), sendEach(), closeOnFailure())
    .subscribe();
  t.teardown(() => relay.unsubscribe());
  const toAlice = infos(alice, 2);
  const toBob = infos(bob, 2);
  const toCarol = infos(carol, 2);
  await alice.send({ info: 'hello from alice' });
  await bob.send({ info: 'hello from bob' });
  await carol.send({ info: 'hello from carol' });
  t.deepEqual(await toAlice, ['hello from bob', 'hello from carol']);
  t.deepEqual(await toBob, ['hello from alice', 'hello from carol']);
  t.deepEqual(await toCarol, ['hello from alice', 'hello from bob']);
});

test('stop() completes connections$ and incoming$ and closes every peer', async (t) => {
  const hub = new MemoryHub();
  const peers = [hub.connectPeer(), hub.connectPeer()];
  const events = allValues(hub.connections$.pipe(map(plainEvent)));
  const incoming = allValues(hub.incoming$);
  const peerCloses = peers.map((peer) => firstValues(peer.closed$));
  await hub.stop();
  t.true(hub.isStopped);
  t.deepEqual(await events, [
    { type: 'open', id: 'c1', alive: 2 },
    { type: 'open', id: 'c2', alive: 2 },
    { type: 'close', id: 'c1', alive: 1, reason: CloseReasonKind.Local },
    { type: 'close', id: 'c2', alive: 0, reason: CloseReasonKind.Local },
  ]);
  t.deepEqual(await incoming, []);
  const reasons = (await Promise.all(peerCloses)).map(([closed]) => closed?.reason);
  t.deepEqual(reasons, [CloseReasonKind.PeerClosed, CloseReasonKind.PeerClosed]);
  t.true(peers.every((peer) => peer.socket.destroyed));
  t.deepEqual(await allValues(hub.connections$), [], 'a late subscriber sees the stream complete');
  t.deepEqual(await allValues(hub.incoming$), []);
});

test('stop() called again while stopping resolves only when every socket is closed', async (t) => {
  class BareHub extends Hub {
    add(socket: MemorySocket): Messenger {
      return this.adopt(socket);
    }
  }
  const hub = new BareHub();
  const pairs = [socketPair(), socketPair()];
  for (const [near, far] of pairs) {
    hub.add(near);
    far.resume(); // the far end reads, so it sees the FIN and answers with its own
  }
  const first = hub.stop();
  await hub.stop();
  t.true(pairs.every(([near]) => near.destroyed));
  await first;
});

test('stop with drainMs delivers the frames still queued to a slow reader, then closes', async (t) => {
  const server = await startServer(t, { maxQueueBytes: 8 * 1024 * 1024 });
  const { raw, peer: messenger } = await rawPeer(t, server, { stalled: true });
  const content = Buffer.alloc(64 * 1024, 1);
  let sent = 0;
  // Until frames wait in the queue, beyond what the kernel's buffers took.
  for (; sent < 10_000 && messenger.queuedBytes < 1024 * 1024; sent++) {
    messenger.send({ seq: sent }, content).catch(() => {});
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.true(messenger.queuedBytes > 0);

  const stopped = server.stop({ drainMs: WAIT_MS });
  t.is(messenger.closeReason?.reason, CloseReasonKind.Local);
  const seqs: string[] = [];
  const decoder = new FrameDecoder();
  raw.on('data', (chunk: Buffer) => decoder.push(chunk, (m) => seqs.push(m.header['seq']!)));
  raw.resume();
  await within(stopped, 'stop to drain and close');
  await within(socketClosed(raw), 'the reader to see the close');
  t.deepEqual(
    seqs,
    Array.from({ length: sent }, (_, seq) => String(seq)),
  );
});

test('stop closes connections still authenticating too, and the gate lets nothing in after', async (t) => {
  const hub = new MemoryHub({ authenticate: () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 20)) });
  const peer = hub.connectPeer();
  await peer.send({ token: 'x' });
  t.is(hub.stats().authenticating, 1);
  const opened = firstValues(hub.connections$.pipe(toArray()));
  await hub.stop();
  t.deepEqual(await opened, [[]], 'no open event, ever');
  t.is(hub.stats().authenticating, 0);
  t.is(hub.stats().closes[CloseReasonKind.Local], 1);
});
