/**
 * Limits under attack, over loopback: each misbehaving peer is closed with its own reason while
 * the well-behaved ones carry on; and the options of the limits are checked when a hub is made.
 * (The stalled reader of a broadcast storm has its own file: slow-consumer.test.ts.)
 */
import type { Socket } from 'node:net';
import test from 'ava';
import { CloseReasonKind } from '../lib/connection/close-reason.js';
import {
  ErrorCode,
  FirstMessageTimeoutError,
  FrameEncodeError,
  FrameTimeoutError,
  InboundBudgetError,
  InvalidOptionError,
  QueueFullError,
} from '../lib/errors.js';
import type { Hub, HubOptions } from '../lib/hub/hub.js';
import { RefusalReason } from '../lib/hub/hub-stats.js';
import type { Transport } from '../lib/connection/messenger.js';
import { MemoryHub, socketPair } from '../lib/testing/index.js';
import {
  link,
  next,
  rawConnect,
  rawFrame,
  rawPeer,
  socketClosed,
  startClient,
  startServer,
  waitFor,
  within,
  writeRaw,
  type Link,
} from './helpers/loopback.js';

/** One message from the client and its echo back; the server side echoes everything it gets. */
async function echo(connection: Link, info: string): Promise<string | undefined> {
  const back = next(connection.client.messages$);
  await connection.client.send({ info });
  return (await back).header['info'];
}

/** Makes the server echo every message back to its sender. */
function echoAll(server: Hub): void {
  server.incoming$.subscribe(({ from, header }) => from.send({ info: header['info'] ?? '' }).catch(() => {}));
}

test('a slowloris peer that sends half a frame is closed as frame-timeout while another connection keeps working', async (t) => {
  const server = await startServer(t, { frameTimeoutMs: 300 });
  echoAll(server);
  const good = await link(server, startClient(t));
  const { raw, peer: slow } = await rawPeer(t, server);
  const frame = rawFrame('CL:4;info:slow', Buffer.from('abcd'));
  await writeRaw(raw, frame.subarray(0, 9));
  const closed = next(slow.closed$);

  // The good connection round-trips all along, until the slow one is gone.
  const answers: Array<string | undefined> = [];
  for (let i = 0; !slow.closed && i < 10_000; i++) answers.push(await echo(good, `ping ${i}`));
  t.true(answers.length > 0);
  t.deepEqual(
    answers,
    answers.map((_, i) => `ping ${i}`),
  );
  const reason = await closed;
  t.is(reason.reason, CloseReasonKind.FrameTimeout);
  t.true(reason.error instanceof FrameTimeoutError);
  t.is((reason.error as FrameTimeoutError).code, ErrorCode.FrameTimeout);
  await within(socketClosed(raw), 'the slow socket to close');
  t.is(await echo(good, 'after'), 'after');
  t.is(server.stats().closes[CloseReasonKind.FrameTimeout], 1);
});

test('connections past maxConnections are refused at accept and counted, and a freed place is taken again', async (t) => {
  const server = await startServer(t, { maxConnections: 2 });
  echoAll(server);
  const client = startClient(t);
  const first = await link(server, client);
  const second = await link(server, client);

  const extra = await rawConnect(t, server.address.port);
  await within(socketClosed(extra), 'the refused connection to close');
  t.is(server.stats().refusals[RefusalReason.MaxConnections], 1);
  t.deepEqual(server.messengers, [first.server, second.server]);
  t.is(await echo(first, 'one'), 'one');
  t.is(await echo(second, 'two'), 'two');

  second.client.close();
  await waitFor(() => server.stats().connections === 1, 'the server to see the close');
  const third = await link(server, client);
  t.is(await echo(third, 'three'), 'three');
  t.is(server.stats().refusals[RefusalReason.MaxConnections], 1);
});

test('a connection that sends no first message is closed as first-message-timeout, one that checks in is kept', async (t) => {
  const server = await startServer(t, { firstMessageTimeoutMs: 1000 });
  echoAll(server);
  // The seed's connecting side sends a connection check soon after connecting.
  const checked = await link(server, startClient(t, { connectCheckMs: 20 }));
  const { peer: silent } = await rawPeer(t, server);
  const reason = await next(silent.closed$);
  t.is(reason.reason, CloseReasonKind.FirstMessageTimeout);
  t.true(reason.error instanceof FirstMessageTimeoutError);
  // The checked-in connection opened first, so its deadline has passed too: it is still here.
  t.false(checked.server.closed);
  t.is(await echo(checked, 'kept'), 'kept');
});

/** A MemoryHub that lets a test call the protected `admit` as a Server does at accept. */
class Gatekeeper extends MemoryHub {
  tryAdmit(socket: Transport, pending?: number): boolean {
    return this.admit(socket, pending);
  }
}

test('admit refuses a socket when the hub is full, counting pending handshakes, or stopped: destroyed and counted', async (t) => {
  const hub = new Gatekeeper({ maxConnections: 2 });
  hub.connectPeer();
  /** One end of a fresh in-memory connection; the other end expects the reset. */
  const dialling = (): Transport => {
    const [near, far] = socketPair();
    far.on('error', () => {});
    return near;
  };
  const near = dialling();
  t.true(hub.tryAdmit(near));
  t.false(near.destroyed);
  t.false(hub.tryAdmit(near, 1), 'one connection plus one handshake in progress fill two places');
  t.true(near.destroyed);
  hub.connectPeer();
  t.false(hub.tryAdmit(dialling()));
  await hub.stop();
  const late = dialling();
  t.false(hub.tryAdmit(late));
  t.true(late.destroyed);
  t.deepEqual(hub.stats().refusals, { [RefusalReason.MaxConnections]: 2, [RefusalReason.Stopped]: 1 });
});

test('a frame larger than maxQueueBytes is refused on an empty queue and closes nothing: the sender is at fault, not the reader', async (t) => {
  for (const onQueueFull of [undefined, 'close', 'fail'] as const) {
    const hub = new MemoryHub({ maxQueueBytes: 16, ...(onQueueFull ? { onQueueFull } : {}) });
    t.teardown(() => hub.stop());
    hub.connectPeer();
    const messenger = hub.get('c1')!;
    const error = await t.throwsAsync(messenger.send({ info: 'x' }, Buffer.alloc(32)), { instanceOf: QueueFullError });
    t.is(error?.code, ErrorCode.QueueFull);
    t.false(messenger.closed, `onQueueFull ${String(onQueueFull)}`);
  }
});

const invalid: Array<[keyof HubOptions, unknown]> = [
  ['idleTimeoutMs', -1],
  ['heartbeatMs', 1.5],
  ['frameTimeoutMs', 2 ** 31],
  ['firstMessageTimeoutMs', Number.NaN],
  ['connectCheckMs', '5s'],
  ['keepAliveDelayMs', -1000],
  ['maxConnections', 0],
  ['authTimeoutMs', 0],
  ['onQueueFull', 'drop'],
  ['maxQueueBytes', -1],
  ['lingerMs', Infinity],
  ['authenticate', 'secret'],
];

for (const [option, value] of invalid) {
  test(`a hub refuses ${option} ${String(value)} when it is made, naming the option`, (t) => {
    const error = t.throws(() => new MemoryHub({ [option]: value } as HubOptions), { instanceOf: InvalidOptionError });
    t.is(error?.code, ErrorCode.InvalidOption);
    t.regex(error?.message ?? '', new RegExp(`^option ${option}: `));
  });
}

test('a hello the wire cannot carry is refused when the hub is made', (t) => {
  t.throws(() => new MemoryHub({ hello: { header: { 'a:b': 'x' } } }), { instanceOf: FrameEncodeError });
});

test('stop refuses a drainMs that is not a duration', async (t) => {
  const hub = new MemoryHub();
  await t.throwsAsync(hub.stop({ drainMs: -1 }), { instanceOf: InvalidOptionError, message: /^option drainMs: / });
  await hub.stop();
});

test('past maxInboundBytesTotal the connections holding the most of unfinished frames are closed as inbound-budget, and a connection that finishes its frames stays', async (t) => {
  const maxInboundBytesTotal = 1024 * 1024;
  const server = await startServer(t, { maxInboundBytesTotal });
  const reader = await link(server, startClient(t));
  // Eight peers each announce 1 MiB and send a growing part of it, then hold: 8 x 256 KiB > 1 MiB.
  const peers: Socket[] = [];
  for (let i = 0; i < 8; i++) peers.push(await rawConnect(t, server.address.port));
  await waitFor(() => server.messengers.length === 9, 'every peer to be in');
  const serverSide = new Map(server.messengers.map((m) => [m.addr.port, m]));
  for (const [i, peer] of peers.entries()) {
    // One after another, each holding more than the one before: 128, 144, ... 240 KiB.
    const frame = rawFrame(`CL:${1024 * 1024}`);
    const part = 128 * 1024 + i * 16 * 1024;
    peer.write(frame);
    peer.write(Buffer.alloc(part, i));
    const messenger = serverSide.get(peer.localPort!)!;
    await waitFor(() => messenger.closed || messenger.unfinishedBytes === frame.length + part, `peer ${i}'s bytes to arrive`);
  }
  // Up to peer 5 they fit (1,008 KiB); peer 6 passes 1 MiB, and the two holding most (6 and 5) go,
  // down to 800 KiB, under the budget less its sixteenth; peer 7 passes it again, and goes.
  t.is(server.stats().closes[CloseReasonKind.InboundBudget], 3);
  const held = server.messengers.reduce((sum, m) => sum + m.unfinishedBytes, 0);
  t.true(held <= maxInboundBytesTotal, `the open connections hold ${held} bytes of unfinished frames`);
  const open = new Set(server.messengers.map((m) => m.addr.port));
  t.deepEqual(
    peers.map((p) => open.has(p.localPort!)),
    [true, true, true, true, true, false, false, false],
    'the ones holding the most went',
  );
  // The reader, which finishes its frames, is untouched.
  const echo = next(reader.server.messages$);
  await reader.client.send({ info: 'fine' });
  t.is((await echo).header['info'], 'fine');
});

test("a peer that alone holds more than maxInboundBytesTotal of one frame is closed as inbound-budget", async (t) => {
  const server = await startServer(t, { maxInboundBytesTotal: 64 * 1024 });
  const peer = await rawConnect(t, server.address.port);
  const messenger = await waitForMessenger(server);
  const closed = next(messenger.closed$);
  peer.write(rawFrame(`CL:${1024 * 1024}`));
  peer.write(Buffer.alloc(128 * 1024));
  const reason = await closed;
  t.is(reason.reason, CloseReasonKind.InboundBudget);
  t.true(reason.error instanceof InboundBudgetError);
  t.is((reason.error as InboundBudgetError).code, ErrorCode.InboundBudget);
});

async function waitForMessenger(server: Hub) {
  await waitFor(() => server.messengers.length > 0, 'the peer to be in');
  return server.messengers[0]!;
}
