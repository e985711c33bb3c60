/** The Server over real loopback sockets: Clients and raw `net` sockets as its peers. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { filter, take, toArray } from 'rxjs';
import { CloseReasonKind } from '../lib/connection/close-reason.js';
import type { ConnectionEvent, Incoming } from '../lib/hub/hub.js';
import { Server } from '../lib/hub/server.js';
import { ErrorCode, HubStoppedError, ProtocolError, QueueFullError } from '../lib/errors.js';
import { encodeFrame } from '../lib/protocol/encode.js';
import {
  WAIT_MS,
  link,
  next,
  rawConnect,
  rawFrame,
  serverSideOf,
  socketClosed,
  startClient,
  startServer,
  within,
  writeRaw,
  type Link,
} from './helpers/loopback.js';

/** Proves a connection still works both ways: one message from the client, one back. */
async function roundTrip(connection: Link, info: string): Promise<[string | undefined, string | undefined]> {
  const atServer = next(connection.server.messages$);
  await connection.client.send({ info });
  const up = (await atServer).header['info'];
  const atClient = next(connection.client.messages$);
  await connection.server.send({ info: `${info} back` });
  return [up, (await atClient).header['info']];
}

test('listen on port 0 binds a real port, readable from address', async (t) => {
  const server = await startServer(t);
  t.is(server.address.host, '127.0.0.1');
  t.true(Number.isInteger(server.address.port) && server.address.port > 0);
  t.true(server.server.listening);
  const raw = await rawConnect(t, server.address.port);
  const adopted = await serverSideOf(server, raw);
  t.deepEqual(server.messengers, [adopted]);
});

test('listen rejects when the port is taken, and a stopped server does not listen again', async (t) => {
  const first = await startServer(t);
  const second = new Server({ host: '127.0.0.1', port: first.address.port });
  t.teardown(() => second.stop());
  const error = await t.throwsAsync(second.listen());
  t.is((error as NodeJS.ErrnoException | undefined)?.code, 'EADDRINUSE');
  await second.stop();
  await t.throwsAsync(second.listen(), { instanceOf: HubStoppedError });
});

test('a frame split across many writes, and many frames in one write, are read whole', async (t) => {
  const server = await startServer(t);
  const raw = await rawConnect(t, server.address.port);
  raw.setNoDelay(true);
  const peer = await serverSideOf(server, raw);
  const received = next(peer.messages$.pipe(take(4), toArray()));

  const content = Buffer.from('0123456789abcdefghij');
  const split = Buffer.concat(encodeFrame({ info: 'split', seq: 1 }, content));
  // Cut inside the prefix, inside the header text and inside the content.
  for (const [from, to] of [
    [0, 1],
    [1, 5],
    [5, split.length - 7],
    [split.length - 7, split.length],
  ] as const) {
    await writeRaw(raw, split.subarray(from, to));
    await sleep(5); // pacing only, so the pieces tend to arrive in separate reads
  }
  await writeRaw(raw, Buffer.concat([...encodeFrame({ seq: 2 }), ...encodeFrame({ seq: 3 }, content), ...encodeFrame({ seq: 4 })]));

  const messages = await received;
  t.deepEqual(
    messages.map((m) => ({ ...m.header })),
    [{ info: 'split', seq: '1' }, { seq: '2' }, { seq: '3' }, { seq: '4' }],
  );
  t.true(messages[0]!.content.equals(content));
  t.true(messages[2]!.content.equals(content));
  t.false(peer.closed);
});

const malformed: ReadonlyArray<{ input: string; bytes: Buffer; code: ErrorCode }> = [
  { input: 'a header that is not valid UTF-8', bytes: rawFrame(Buffer.from([0x43, 0x4c, 0x3a, 0x30, 0x3b, 0x61, 0x3a, 0xff, 0xfe])), code: ErrorCode.InvalidUtf8 },
  { input: 'a header pair without ":"', bytes: rawFrame('CL:0;info'), code: ErrorCode.MalformedPair },
  { input: 'an empty header text', bytes: rawFrame(''), code: ErrorCode.MalformedPair },
  { input: 'a header without CL', bytes: rawFrame('info:hi'), code: ErrorCode.ContentLengthMissing },
  { input: 'a CL that is not a number', bytes: rawFrame('CL:ten'), code: ErrorCode.ContentLengthInvalid },
  { input: 'a negative CL', bytes: rawFrame('CL:-1'), code: ErrorCode.ContentLengthInvalid },
  { input: 'a repeated CL', bytes: rawFrame('CL:0;CL:0'), code: ErrorCode.ContentLengthRepeated },
  { input: 'a CL over maxContentBytes', bytes: rawFrame('CL:1025'), code: ErrorCode.ContentTooLarge },
];

for (const { input, bytes, code } of malformed) {
  test(`${input} closes only its connection, with protocol-error ${code}, and the others keep working`, async (t) => {
    const server = await startServer(t, { maxContentBytes: 1024 });
    const good = await link(server, startClient(t));
    t.deepEqual(await roundTrip(good, 'before'), ['before', 'before back']);

    const raw = await rawConnect(t, server.address.port);
    const bad = await serverSideOf(server, raw);
    const closeEvent = next(
      server.connections$.pipe(filter((e): e is ConnectionEvent & { type: 'close' } => e.type === 'close')),
    );
    // A good frame first, then the bad one: the good one is still delivered.
    const delivered = next(bad.messages$.pipe(toArray()));
    await writeRaw(raw, Buffer.concat([...encodeFrame({ info: 'fine' }), bytes]));

    const event = await closeEvent;
    t.is(event.messenger, bad);
    t.is(event.reason.reason, CloseReasonKind.ProtocolError);
    t.true(event.reason.error instanceof ProtocolError);
    t.is((event.reason.error as ProtocolError).code, code);
    t.is(event.alive, 1);
    t.deepEqual(
      (await delivered).map((m) => m.header['info']),
      ['fine'],
    );
    await within(socketClosed(raw), 'the server to close the bad connection');

    t.deepEqual(server.messengers, [good.server]);
    t.false(good.server.closed);
    t.deepEqual(await roundTrip(good, 'after'), ['after', 'after back']);
  });
}

test('1,000 messages each way between a server and a client arrive, none lost or reordered', async (t) => {
  const server = await startServer(t);
  const client = startClient(t);
  const count = 1000;
  const atServer = within(next(server.incoming$.pipe(take(count), toArray()), 30_000), 'the messages at the server', 30_000);
  const atClient = within(next(client.incoming$.pipe(take(count), toArray()), 30_000), 'the messages at the client', 30_000);
  const connection = await link(server, client);

  const upstream = async () => {
    for (let seq = 0; seq < count; seq++) await connection.client.send({ seq, dir: 'up' }, Buffer.from(`up ${seq}`));
  };
  const downstream = async () => {
    for (let seq = 0; seq < count; seq++) await server.send(connection.server, { seq, dir: 'down' }, Buffer.from(`down ${seq}`));
  };
  await within(Promise.all([upstream(), downstream()]), 'every send', 30_000);

  const expected = (dir: string) => Array.from({ length: count }, (_, seq) => `${dir} ${seq} ${dir} ${seq}`);
  const seen = (messages: Incoming[]) => messages.map((m) => `${m.header['dir']} ${m.header['seq']} ${m.content.toString()}`);
  const up = await atServer;
  const down = await atClient;
  t.deepEqual(seen(up), expected('up'));
  t.deepEqual(seen(down), expected('down'));
  t.true(up.every((m) => m.from === connection.server));
  t.true(down.every((m) => m.from === connection.client));
});

test('connections$ reports each open and close with the number of connections alive', async (t) => {
  const server = await startServer(t);
  const client = startClient(t);
  const events: ConnectionEvent[] = [];
  const subscription = server.connections$.subscribe((e) => events.push(e));
  t.teardown(() => subscription.unsubscribe());

  const a = await link(server, client);
  const b = await link(server, client);
  const c = await link(server, client);
  const closed = next(server.connections$.pipe(filter((e) => e.type === 'close')));
  b.client.close();
  const close = await closed;

  const summary = (e: ConnectionEvent) => [e.type, e.messenger, e.alive, e.type === 'close' ? e.reason.reason : undefined];
  t.deepEqual(events.map(summary), [
    ['open', a.server, 1, undefined],
    ['open', b.server, 2, undefined],
    ['open', c.server, 3, undefined],
    ['close', b.server, 2, CloseReasonKind.PeerClosed],
  ]);
  t.is(close.messenger, b.server);
  t.deepEqual(server.messengers, [a.server, c.server]);

  // A late subscriber first hears of every live connection.
  const replay = next(server.connections$.pipe(take(2), toArray()));
  t.deepEqual((await replay).map((e) => [e.type, e.messenger]), [
    ['open', a.server],
    ['open', c.server],
  ]);
});

test('broadcast reaches every client, multicast only the chosen ones', async (t) => {
  const server = await startServer(t);
  const client = startClient(t);
  const links = [await link(server, client), await link(server, client), await link(server, client)];
  const inboxes = links.map((l) => next(l.client.messages$.pipe(take(2), toArray())));

  const broadcast = await server.broadcast({ info: 'to all' });
  t.deepEqual(
    broadcast.map((o) => [o.target, o.ok]),
    links.map((l) => [l.server, true]),
  );
  const multicast = await server.multicast([links[0]!.server, links[2]!.server.id], { info: 'to some' });
  t.deepEqual(
    multicast.map((o) => [o.target, o.ok]),
    [
      [links[0]!.server, true],
      [links[2]!.server, true],
    ],
  );
  // A marker sent after the multicast shows the middle client never got it.
  await server.send(links[1]!.server, { info: 'marker' });

  const received = await Promise.all(inboxes);
  t.deepEqual(
    received.map((messages) => messages.map((m) => m.header['info'])),
    [
      ['to all', 'to some'],
      ['to all', 'marker'],
      ['to all', 'to some'],
    ],
  );
});

test('a failed send closes its target as a slow consumer, unless closeOnFail is false', async (t) => {
  const maxQueueBytes = 64 * 1024;
  const server = await startServer(t, { maxQueueBytes });
  const connection = await link(server, startClient(t));
  const tooBig = Buffer.alloc(maxQueueBytes + 1);

  const kept = await server.send(connection.server, { info: 'big' }, tooBig, { closeOnFail: false });
  t.false(kept.ok);
  t.true(!kept.ok && kept.error instanceof QueueFullError);
  t.false(connection.server.closed);
  t.deepEqual(await roundTrip(connection, 'still there'), ['still there', 'still there back']);

  const closed = next(connection.server.closed$);
  const failed = await server.send(connection.server, { info: 'big' }, tooBig);
  t.false(failed.ok);
  t.true(!failed.ok && failed.error instanceof QueueFullError);
  const reason = await closed;
  t.is(reason.reason, CloseReasonKind.SlowConsumer);
  t.true(reason.error instanceof QueueFullError);
  await within(connection.client.whenSocketClosed(), 'the client to see the close');
  t.deepEqual(server.messengers, []);
});

test('a broadcast closes the stalled reader whose queue is full, and still reaches the others', async (t) => {
  const maxQueueBytes = 256 * 1024;
  // 'fail', so that the plain sends below fill the queue without closing the connection.
  const server = await startServer(t, { maxQueueBytes, onQueueFull: 'fail' });
  const healthy = await link(server, startClient(t));
  const raw = await rawConnect(t, server.address.port);
  raw.pause();
  const stalled = await serverSideOf(server, raw);

  // Fill the stalled reader's queue, without closing it.
  const content = Buffer.alloc(16 * 1024);
  let full = false;
  for (let seq = 0; seq < 100_000 && !full; seq++) {
    // An accepted send settles only once the kernel takes it, so wait one turn at most; a refused
    // one settles at once.
    const outcome = await Promise.race([server.send(stalled, { seq }, content, { closeOnFail: false }), nextTurn(undefined)]);
    if (outcome && !outcome.ok) full = outcome.error instanceof QueueFullError;
  }
  t.true(full, 'the queue filled up');

  const arrived = next(healthy.client.messages$);
  const closed = next(stalled.closed$);
  const outcomes = await server.broadcast({ info: 'news' }, content);
  t.deepEqual(
    outcomes.map((o) => [o.target, o.ok]).sort((x, y) => (x[1] === y[1] ? 0 : x[1] ? -1 : 1)),
    [
      [healthy.server, true],
      [stalled, false],
    ],
  );
  t.is((await closed).reason, CloseReasonKind.SlowConsumer);
  t.is((await arrived).header['info'], 'news');
  t.deepEqual(server.messengers, [healthy.server]);
});

test('stop closes every connection and completes connections$ and incoming$', async (t) => {
  const server = await startServer(t);
  const client = startClient(t);
  const links = [await link(server, client), await link(server, client)];
  const connectionsDone = within(next(server.connections$.pipe(toArray())), 'connections$ to complete');
  const incomingDone = within(next(server.incoming$.pipe(toArray())), 'incoming$ to complete');
  const atClients = links.map((l) => next(l.client.closed$));

  await within(server.stop(), 'stop');
  t.true(server.isStopped);
  t.false(server.server.listening);
  t.deepEqual(server.messengers, []);
  for (const l of links) t.deepEqual(l.server.closeReason, { reason: CloseReasonKind.Local });
  for (const reason of await Promise.all(atClients)) t.is(reason.reason, CloseReasonKind.PeerClosed);
  const events = await connectionsDone;
  t.deepEqual(
    events.filter((e) => e.type === 'close').map((e) => [e.messenger, e.type === 'close' && e.reason.reason]),
    links.map((l) => [l.server, CloseReasonKind.Local]),
  );
  t.deepEqual(await incomingDone, []);

  // Nothing is accepted any more.
  const refused = netConnect({ host: '127.0.0.1', port: server.address.port });
  const [error] = (await within(once(refused, 'error'), 'the refused dial')) as [NodeJS.ErrnoException];
  t.is(error.code, 'ECONNREFUSED');
  await server.stop(); // idempotent
});

const fixture = fileURLToPath(new URL('./fixtures/stop-exits.ts', import.meta.url));
const projectRoot = fileURLToPath(new URL('..', import.meta.url));

for (const order of ['client-first', 'server-first'] as const) {
  test(`a process whose server and client stopped (${order}) exits by itself with no handle left`, async (t) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, order], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    let killed = false;
    const killer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, 3 * WAIT_MS);
    t.teardown(() => {
      clearTimeout(killer);
      child.kill('SIGKILL');
    });
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    clearTimeout(killer);

    t.false(killed, 'the child was not killed by the test');
    t.is(signal, null);
    t.is(code, 0, stderr);
    const report = JSON.parse(stdout.trim()) as { ping: string; pong: string; resources: string[] };
    t.is(report.ping, 'ping');
    t.is(report.pong, 'pong');
    // The child's stdout and stderr are pipes (or a TTY): they are the only handles allowed.
    const left = report.resources.filter((name) => name !== 'PipeWrap' && name !== 'TTYWrap');
    t.deepEqual(left, [], 'no socket, server or timer is left active once both have stopped');
  });
}
