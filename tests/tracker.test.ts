/**
 * The tracker: its table, broadcasts and expiries as marbles in virtual time (fake connections,
 * then real Messengers of a MemoryHub on a TestScheduler), then over loopback, byte for byte in
 * the seed's vocabulary.
 */
import test from 'ava';
import { Subject, filter, firstValueFrom, map, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { Messenger } from '../lib/connection/messenger.js';
import { InvalidOptionError } from '../lib/errors.js';
import { Tracker, type TrackerConnection, type TrackerEvent } from '../lib/filer/tracker.js';
import { BROADCAST_HEADER, decodePeerList, encodePeerList, parseReport, reportHeader } from '../lib/filer/vocabulary.js';
import type { Received } from '../lib/hub/operators.js';
import { FrameDecoder } from '../lib/protocol/decoder.js';
import type { Message } from '../lib/protocol/message.js';
import { MemoryHub } from '../lib/testing/index.js';
import { next, rawConnect, rawFrame, startClient, waitFor, within, writeRaw } from './helpers/loopback.js';
import { fakeTargets, testScheduler, type FakeTarget } from './helpers/marbles.js';

type FakePeer = FakeTarget & TrackerConnection;

/** A fake connection seen at `host`, recording the frames the tracker writes to it. */
function fakePeer(make: (id: string) => FakeTarget, id: string, host = '127.0.0.1'): FakePeer {
  return Object.assign(make(id), { addr: { host, port: 40000 } });
}

/** A report as the tracker receives it (every received header value is text). */
function report(from: FakePeer, id: string, port: number | string): Received<FakePeer> {
  return { from, header: { ID: id, Port: String(port) }, content: Buffer.alloc(0) };
}

/** Events as short strings: `join:alice`, `leave:alice:expired`, `broadcast:alice,bob`. */
function describe(event: TrackerEvent<FakePeer>): string {
  switch (event.type) {
    case 'join':
      return `join:${event.peer.id}`;
    case 'move':
      return `move:${event.peer.id}`;
    case 'leave':
      return `leave:${event.peer.id}:${event.reason}`;
    case 'broadcast':
      return `broadcast:${event.peers.map((p) => p.id).join(',')}`;
    case 'invalid-report':
      return `invalid:${event.connection.id}`;
  }
}

/** The messages of the frames a fake connection was sent. */
function sent(target: FakeTarget): Message[] {
  const decoder = new FrameDecoder();
  const messages: Message[] = [];
  for (const frame of target.frames) for (const part of frame) decoder.push(part, (message) => messages.push(message));
  return messages;
}

// Virtual time: 1 frame = 1 ms; interval 20, expiry 60.

test('a peer that keeps reporting is listed and sent the table every interval; when its reports stop it leaves after the expiry', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ hot, expectObservable }) => {
    const { target } = fakeTargets(scheduler);
    const a = fakePeer((id) => target(id, { settleAfter: 1 }), 'c1');
    const incoming$ = hot('-----r 19ms r 19ms r', { r: report(a, 'alice', 63330) });
    const tracker = new Tracker({ incoming$, connections$: hot('') }, { intervalMs: 20, expireMs: 60, scheduler });
    scheduler.schedule(() => void tracker.stop(), 130);
    // Reports at 5, 25, 45; broadcasts at 20 ... 100; the last report expires at 45 + 60.
    expectObservable(tracker.events$.pipe(map(describe))).toBe('5ms j 14ms b 19ms b 19ms b 19ms b 19ms b 4ms l 24ms |', {
      j: 'join:alice',
      b: 'broadcast:alice',
      l: 'leave:alice:expired',
    });
    scheduler.flush();
    const broadcasts = sent(a);
    t.is(broadcasts.length, 5);
    for (const { header, content } of broadcasts) {
      t.deepEqual({ ...header }, { Broadcast: '' });
      t.is(content.toString('utf8'), 'alice,127.0.0.1,63330');
    }
  });
});

test('a peer whose connection closes leaves at once, and is not sent the table again', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ hot, expectObservable }) => {
    const { target } = fakeTargets(scheduler);
    const a = fakePeer((id) => target(id, { settleAfter: 1 }), 'c1');
    const incoming$ = hot('-----r', { r: report(a, 'alice', 63330) });
    const connections$ = hot('30ms c', { c: { type: 'close' as const, messenger: a } });
    const tracker = new Tracker({ incoming$, connections$ }, { intervalMs: 20, expireMs: 60, scheduler });
    scheduler.schedule(() => void tracker.stop(), 70);
    expectObservable(tracker.events$.pipe(map(describe))).toBe('5ms j 14ms b 9ms l 39ms |', {
      j: 'join:alice',
      b: 'broadcast:alice',
      l: 'leave:alice:closed',
    });
    scheduler.flush();
    t.is(sent(a).length, 1);
  });
});

test('each peer expires on its own: the table sent after one stops reporting lists only the others', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ hot, expectObservable }) => {
    const { target } = fakeTargets(scheduler);
    const a = fakePeer((id) => target(id, { settleAfter: 1 }), 'c1');
    const b = fakePeer((id) => target(id, { settleAfter: 1 }), 'c2', '10.1.2.3');
    // alice reports at least every 10 ms; bob twice, at 7 and 16, so he expires at 76.
    const incoming$ = hot('-----a-b--a-----ba---a---------a---------a---------a---------a---------a---------a', {
      a: report(a, 'alice', 63330),
      b: report(b, 'bob', 63331),
    });
    const tracker = new Tracker({ incoming$, connections$: hot('') }, { intervalMs: 20, expireMs: 60, scheduler });
    scheduler.schedule(() => void tracker.stop(), 95);
    expectObservable(tracker.events$.pipe(map(describe))).toBe('5ms a-b 12ms x 19ms x 19ms x 15ms l 3ms y 14ms |', {
      a: 'join:alice',
      b: 'join:bob',
      x: 'broadcast:alice,bob',
      l: 'leave:bob:expired',
      y: 'broadcast:alice',
    });
    scheduler.flush();
    const bodies = sent(a).map(({ content }) => content.toString('utf8'));
    t.deepEqual(bodies, [
      'alice,127.0.0.1,63330;bob,10.1.2.3,63331',
      'alice,127.0.0.1,63330;bob,10.1.2.3,63331',
      'alice,127.0.0.1,63330;bob,10.1.2.3,63331',
      'alice,127.0.0.1,63330',
    ]);
    t.is(sent(b).length, 3, 'bob gets no table after he left');
  });
});

test('a name reported from another connection moves; the old connection closing then leaves it listed', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ hot, expectObservable }) => {
    const { target } = fakeTargets(scheduler);
    const first = fakePeer((id) => target(id, { settleAfter: 1 }), 'c1');
    const second = fakePeer((id) => target(id, { settleAfter: 1 }), 'c2', '10.1.2.3');
    const incoming$ = hot('--a--b', { a: report(first, 'alice', 63330), b: report(second, 'alice', 63330) });
    const connections$ = hot('---------c', { c: { type: 'close' as const, messenger: first } });
    const tracker = new Tracker({ incoming$, connections$ }, { intervalMs: 20, expireMs: 60, scheduler });
    scheduler.schedule(() => void tracker.stop(), 30);
    expectObservable(tracker.events$.pipe(map(describe))).toBe('--j--m 14ms b 9ms |', { j: 'join:alice', m: 'move:alice', b: 'broadcast:alice' });
    scheduler.flush();
    t.is(sent(second).length, 1);
    t.is(sent(second)[0]!.content.toString(), 'alice,10.1.2.3,63330');
  });
});

test('reports that cannot be listed are refused and messages that are not reports are ignored, the connection untouched', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ hot, expectObservable }) => {
    const { target, closes$ } = fakeTargets(scheduler);
    const a = fakePeer((id) => target(id, { settleAfter: 1 }), 'c1');
    const chat: Received<FakePeer> = { from: a, header: { info: 'hello' }, content: Buffer.alloc(0) };
    const incoming$ = hot('-a-b-c-d', {
      a: report(a, 'alice', 'abc'),
      b: report(a, 'al,ice', 63330),
      c: report(a, 'alice', 70000),
      d: chat,
    });
    const tracker = new Tracker({ incoming$, connections$: hot('') }, { intervalMs: 20, expireMs: 60, scheduler });
    scheduler.schedule(() => void tracker.stop(), 30);
    expectObservable(tracker.events$.pipe(map(describe))).toBe('-i-i-i 24ms |', { i: 'invalid:c1' });
    expectObservable(closes$).toBe('');
    scheduler.flush();
    t.is(sent(a).length, 0, 'an empty table is not broadcast');
  });
});

test('a peer the broadcast cannot reach is closed, and so leaves the table', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ hot, expectObservable }) => {
    const { target, closes$ } = fakeTargets(scheduler);
    const a = fakePeer((id) => target(id, { refuse: 'queue-full' }), 'c1');
    const closes = new Subject<{ type: 'close'; messenger: FakePeer }>();
    closes$.subscribe(() => closes.next({ type: 'close', messenger: a }));
    const tracker = new Tracker({ incoming$: hot('-r', { r: report(a, 'alice', 63330) }), connections$: closes }, { intervalMs: 20, expireMs: 60, scheduler });
    scheduler.schedule(() => void tracker.stop(), 30);
    expectObservable(tracker.events$.pipe(map(describe))).toBe('-j 18ms (bl) 6ms |', { j: 'join:alice', b: 'broadcast:alice', l: 'leave:alice:closed' });
    expectObservable(closes$.pipe(map((c) => `${c.id}:${c.reason}:${c.code}`))).toBe('20ms s', { s: 'c1:slow-consumer:ERR_QUEUE_FULL' });
  });
});

test('the tracker refuses an interval or expiry that is not a whole number of ms above 0, naming it', (t) => {
  const source = { incoming$: new Subject<never>(), connections$: new Subject<never>() };
  for (const [options, name] of [
    [{ intervalMs: 0 }, 'intervalMs'],
    [{ expireMs: 1.5 }, 'expireMs'],
    [{ intervalMs: -1 }, 'intervalMs'],
  ] as const) {
    const error = t.throws(() => new Tracker(source, options), { instanceOf: InvalidOptionError });
    t.regex(error!.message, new RegExp(name));
  }
});

// The vocabulary, byte for byte

test('reports and broadcasts are the seed vocabulary, byte for byte', (t) => {
  t.deepEqual(reportHeader('Stan', 63330), { ID: 'Stan', Port: 63330 });
  t.deepEqual(parseReport({ header: { ID: 'Stan', Port: '63330' } }), { id: 'Stan', port: 63330 });
  t.is(parseReport({ header: { info: 'hello' } }), undefined);
  t.true(parseReport({ header: { ID: 'Stan' } }) instanceof Error);
  t.deepEqual({ ...BROADCAST_HEADER }, { Broadcast: '' });
  const body = encodePeerList([
    { id: 'Stan', host: '127.0.0.1', port: 63330 },
    { id: 'Ann', host: '10.1.2.3', port: 63331 },
  ]);
  t.is(body.toString('utf8'), 'Stan,127.0.0.1,63330;Ann,10.1.2.3,63331');
  t.deepEqual(decodePeerList(body).entries, [
    { id: 'Stan', host: '127.0.0.1', port: 63330 },
    { id: 'Ann', host: '10.1.2.3', port: 63331 },
  ]);
  t.deepEqual(decodePeerList(Buffer.from('Stan,127.0.0.1,63330;broken;Ann,::1,70000;Bo,::1,5000')), {
    entries: [
      { id: 'Stan', host: '127.0.0.1', port: 63330 },
      { id: 'Bo', host: '::1', port: 5000 },
    ],
    skipped: 2,
  });
  t.deepEqual(decodePeerList(Buffer.alloc(0)).entries, []);
});

// Real Messengers in memory, time still virtual

/** Moves a TestScheduler (not in run mode) on by `ms`, running what falls due. */
function advance(scheduler: TestScheduler, ms: number): void {
  const until = scheduler.frame + ms;
  scheduler.maxFrames = until;
  scheduler.flush();
  scheduler.frame = until;
}

test('over in-memory connections in virtual time, a silent peer expires and a reporting one stays, with the table sent to it', async (t) => {
  const scheduler = new TestScheduler((actual, expected) => t.deepEqual(actual, expected));
  const hub = new MemoryHub({ scheduler });
  t.teardown(() => hub.stop());
  const tracker = new Tracker(hub, { intervalMs: 2000, expireMs: 5000, scheduler });
  t.teardown(() => tracker.stop());
  const log: string[] = [];
  tracker.events$.subscribe((event) => {
    if (event.type === 'broadcast' || event.type === 'invalid-report') return;
    log.push(`${scheduler.now()} ${event.type} ${event.peer.id}${event.type === 'leave' ? ` ${event.reason}` : ''}`);
  });
  const alice = hub.connectPeer();
  const bob = hub.connectPeer();
  const tables: string[] = [];
  alice.messages$.subscribe(({ content }) => tables.push(`${scheduler.now()} ${content.toString()}`));

  const reportAll = async (...peers: [Messenger, string][]) => {
    await Promise.all(peers.map(([m, id]) => m.send(reportHeader(id, 63330))));
    // Delivery is real (in-memory streams): wait until the tracker has read them, at this virtual time.
    await waitFor(() => peers.every(([, id]) => tracker.peers.some((p) => p.id === id && p.reportedAt === scheduler.now())), 'the reports');
  };

  await reportAll([alice, 'alice'], [bob, 'bob']); // at 0
  for (let i = 1; i <= 5; i++) {
    advance(scheduler, 2000); // the table goes out at 2000, 4000, ...
    await waitFor(() => tables.length === i, `table ${i} at alice`);
    await reportAll([alice, 'alice']); // bob stays connected but silent
  }
  t.deepEqual(log, ['0 join alice', '0 join bob', '5000 leave bob expired']);
  t.deepEqual(tables, [
    '2000 alice,memory,63330;bob,memory,63330',
    '4000 alice,memory,63330;bob,memory,63330',
    '6000 alice,memory,63330',
    '8000 alice,memory,63330',
    '10000 alice,memory,63330',
  ]);
  t.deepEqual(
    tracker.peers.map((p) => p.id),
    ['alice'],
  );
});

// Loopback

test('over loopback, two peers each get a table listing both as 127.0.0.1; one that goes silent expires, one that closes leaves at once', async (t) => {
  const tracker = await Tracker.listen({ host: '127.0.0.1', port: 0, intervalMs: 100, expireMs: 400 });
  t.teardown(() => tracker.stop());
  const events: string[] = [];
  tracker.events$.subscribe((e) => e.type !== 'broadcast' && events.push(`${e.type} ${e.type === 'invalid-report' ? '' : e.peer.id}${e.type === 'leave' ? ` ${e.reason}` : ''}`));
  const client = startClient(t);
  const port = tracker.server!.address.port;
  const alice = await next(client.connect('127.0.0.1', port));
  const bob = await next(client.connect('127.0.0.1', port));
  let bobReports = true;
  const reporting = setInterval(() => {
    if (!alice.closed) alice.send(reportHeader('alice', 63330)).catch(() => {});
    if (bobReports) bob.send(reportHeader('bob', 63331)).catch(() => {});
  }, 50);
  t.teardown(() => clearInterval(reporting));

  const both = 'alice,127.0.0.1,63330;bob,127.0.0.1,63331';
  const tableOf = (m: Messenger, body: string) =>
    next(m.messages$.pipe(filter(({ header, content }) => header['Broadcast'] === '' && content.toString() === body)), 5000);
  await within(Promise.all([tableOf(alice, both), tableOf(bob, both)]), 'both tables');

  const started = Date.now();
  bobReports = false;
  await tableOf(alice, 'alice,127.0.0.1,63330');
  const silentFor = Date.now() - started;
  t.true(silentFor >= 250, `bob expired after ${silentFor} ms of silence`);
  t.true(bob.closed === false, 'a silent peer is dropped from the table, not disconnected');

  alice.close();
  await waitFor(() => events.includes('leave alice closed'), 'alice to leave');
  t.deepEqual(events, ['join alice', 'join bob', 'leave bob expired', 'leave alice closed']);
});

test('a peer of the original program joins over raw bytes: its report in, the table out, byte for byte', async (t) => {
  const tracker = await Tracker.listen({ host: '127.0.0.1', port: 0, intervalMs: 50, expireMs: 1000 });
  t.teardown(() => tracker.stop());
  const socket = await rawConnect(t, tracker.server!.address.port);
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  // {ID: "Stan", Port: 63330}: 17 00 + "CL:0;ID:Stan;Port:63330", as the seed's peer writes it.
  const reportBytes = rawFrame('CL:0;ID:Stan;Port:63330');
  t.is(reportBytes.subarray(0, 2).toString('hex'), '1700');
  await writeRaw(socket, reportBytes);
  await waitFor(() => Buffer.concat(received).length >= 38, 'the broadcast');
  const expected = Buffer.concat([Buffer.from('1000', 'hex'), Buffer.from('CL:20;Broadcast:Stan,127.0.0.1,63330', 'utf8')]);
  t.deepEqual(Buffer.concat(received).subarray(0, 38), expected);
});

test('Tracker.listen refuses bad options before listening, and stop() completes events$ and frees the port', async (t) => {
  await t.throwsAsync(Tracker.listen({ port: 0, expireMs: 0 }), { instanceOf: InvalidOptionError });
  const tracker = await Tracker.listen({ port: 0 });
  const port = tracker.server!.address.port;
  const completed = firstValueFrom(tracker.events$.pipe(toArray()));
  await tracker.stop();
  t.deepEqual(await completed, []);
  const again = await Tracker.listen({ port });
  await again.stop();
  t.pass();
});
