/**
 * The Messenger over real loopback sockets: a Server on 127.0.0.1 port 0, and a Client or a raw
 * `net` socket as its peer.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect as netConnect, type AddressInfo } from 'node:net';
import { TLSSocket, connect as tlsConnect, createSecureContext } from 'node:tls';
import { setImmediate as nextTurn } from 'node:timers/promises';
import test from 'ava';
import { asyncScheduler, firstValueFrom, take, toArray, type Observable, type SchedulerLike } from 'rxjs';
import { CloseReasonKind, type CloseReason } from '../lib/connection/close-reason.js';
import { Messenger } from '../lib/connection/messenger.js';
import { ConnectionClosedError, ErrorCode, ProtocolError, QueueFullError, ReceiveFailedError, SendFailedError } from '../lib/errors.js';
import { FrameDecoder } from '../lib/protocol/decoder.js';
import { encodeFrame } from '../lib/protocol/encode.js';
import { frameLength, type Message } from '../lib/protocol/message.js';
import { messengerPair } from '../lib/testing/index.js';
import { makeCertificates } from './helpers/certificates.js';
import { find, gate, OPENSSL } from './helpers/programs.js';
import {
  link,
  next,
  rawFrame,
  rawPeer,
  socketClosed,
  startClient,
  startServer,
  waitFor,
  within,
  writeRaw,
} from './helpers/loopback.js';

/** Every notification of a stream, as plain values, once it has completed. */
function record<T>(source: Observable<T>): Promise<Array<{ kind: string; value?: T }>> {
  return new Promise((resolve) => {
    const seen: Array<{ kind: string; value?: T }> = [];
    source.subscribe({
      next: (value) => seen.push({ kind: 'N', value }),
      error: (error: unknown) => resolve([...seen, { kind: 'E', value: error as T }]),
      complete: () => resolve([...seen, { kind: 'C' }]),
    });
  });
}

test('frames sent in one tick, small and large heads, with and without content, arrive whole and in order', async (t) => {
  const server = await startServer(t);
  const { client, server: peer } = await link(server, startClient(t));
  // Heads of a few bytes to past the largest gathering buffer (4,000 bytes), content of 0 to 70,000 bytes,
  // sent and written (pre-encoded) alike, all in one tick: the heads are gathered, the contents not.
  const sizes = [0, 1, 7, 3990, 4100, 12, 0, 70_000, 5, 9000];
  const expected: Array<{ header: Record<string, string>; content: string }> = [];
  const settled: Promise<unknown>[] = [];
  for (let i = 0; i < 600; i++) {
    const header = { seq: String(i), pad: 'x'.repeat(i % 50 === 7 ? 5000 : i % 13) };
    const content = randomBytes(sizes[i % sizes.length]!);
    expected.push({ header, content: content.toString('hex') });
    if (i % 3 === 2) {
      settled.push(new Promise<void>((resolve, reject) => client.write(encodeFrame(header, content), (error) => (error ? reject(error) : resolve()))));
    } else {
      settled.push(client.send(header, content));
    }
  }
  t.true(client.queuedBytes > 0);
  const received = firstValueFrom(peer.messages$.pipe(take(expected.length), toArray()));
  await within(Promise.all(settled), 'every send and write to settle');
  const got = await within(received, 'every message to arrive');
  t.deepEqual(
    got.map((m) => ({ header: { ...m.header }, content: m.content.toString('hex') })),
    expected,
  );
  t.is(client.queuedBytes, 0);
});

test('send resolves once the frame is handed to the kernel, and the peer receives it', async (t) => {
  const server = await startServer(t);
  const { client, server: peer } = await link(server, startClient(t));
  const received = next(peer.messages$);

  const sent = client.send({ info: 'hello' }, Buffer.from('abc'));
  // The tick's first frame left at once; a second one waits for the tick's end, and until the
  // kernel takes it, it is counted in the outbound queue.
  const again = client.send({ info: 'again' });
  t.is(client.queuedBytes, frameLength(encodeFrame({ info: 'again' })));
  await within(Promise.all([sent, again]), 'the sends to settle');
  t.is(client.queuedBytes, 0);

  const message = await received;
  t.deepEqual({ ...message.header }, { info: 'hello' });
  t.is(message.content.toString(), 'abc');
});

test('concurrent sends of many sizes arrive intact and in order, never interleaved', async (t) => {
  const server = await startServer(t);
  const { client, server: peer } = await link(server, startClient(t));
  const sizes = [0, 1, 2, 17, 1000, 4096, 65_535, 65_536, 65_537, 300_000, 1_000_000];
  const payloads = Array.from({ length: 200 }, (_, i) => randomBytes(sizes[i % sizes.length]!));
  const received = within(next(peer.messages$.pipe(take(payloads.length), toArray()), 30_000), 'every message');

  await within(Promise.all(payloads.map((content, seq) => client.send({ seq }, content))), 'every send to settle', 30_000);
  const messages = await received;

  t.deepEqual(
    messages.map((m) => m.header['seq']),
    payloads.map((_, seq) => String(seq)),
  );
  for (const [seq, message] of messages.entries()) {
    t.true(message.content.equals(payloads[seq]!), `content of message ${seq} is intact`);
  }
});

test('messages that arrive before anyone subscribes wait in the inbox for the first subscriber', async (t) => {
  const server = await startServer(t, { keepLatest: true });
  const { client, server: peer } = await link(server, startClient(t));

  for (const seq of [1, 2, 3]) await client.send({ seq }, Buffer.from(`body ${seq}`));
  // With keepLatest, the latest message is recorded as it arrives, whether or not anyone subscribed.
  await waitFor(() => peer.header['seq'] === '3', 'the third message to arrive');

  const early: Message[] = [];
  const subscription = peer.messages$.subscribe((m) => early.push(m));
  t.teardown(() => subscription.unsubscribe());
  // The inbox is handed over synchronously, in order.
  t.deepEqual(
    early.map((m) => [m.header['seq'], m.content.toString()]),
    [
      ['1', 'body 1'],
      ['2', 'body 2'],
      ['3', 'body 3'],
    ],
  );

  const later = next(peer.messages$);
  await client.send({ seq: 4 });
  t.is((await later).header['seq'], '4');
  t.is(early.length, 4, 'the first subscriber keeps receiving live messages');
});

test('a connection check is consumed: it updates recvTime but is never delivered', async (t) => {
  const server = await startServer(t);
  const { client, server: peer } = await link(server, startClient(t));
  const delivered: Message[] = [];
  const subscription = peer.messages$.subscribe((m) => delivered.push(m));
  t.teardown(() => subscription.unsubscribe());
  t.is(peer.recvTime, 0);

  await client.send({ TP: 'Check' });
  await waitFor(() => peer.recvTime !== 0, 'the check to arrive');
  t.deepEqual({ ...peer.header }, {}, 'the check does not become the latest message');

  const after = next(peer.messages$);
  await client.send({ info: 'after' });
  await after;
  t.deepEqual(
    delivered.map((m) => ({ ...m.header })),
    [{ info: 'after' }],
  );
});

test('by default header and body stay empty and messages still arrive', async (t) => {
  const server = await startServer(t);
  const { client, server: peer } = await link(server, startClient(t));
  const got = next(peer.messages$);
  await client.send({ info: 'big' }, Buffer.alloc(100_000, 1));
  t.is((await got).content.length, 100_000);
  t.is(peer.body.length, 0);
  t.deepEqual({ ...peer.header }, {});
  t.true(peer.recvTime > 0);
  t.throws(() => new Messenger(netConnect(1, '127.0.0.1').on('error', () => {}).destroy(), 'x', { keepLatest: 'yes' as unknown as boolean }), {
    code: ErrorCode.InvalidOption,
    message: /^option keepLatest:/,
  });
});

test('with keepLatest, header, body, recvTime and sendTime follow the latest message', async (t) => {
  const server = await startServer(t, { keepLatest: true });
  const { client, server: peer } = await link(server, startClient(t));
  t.is(client.sendTime, 0);
  t.is(peer.recvTime, 0);
  t.deepEqual({ ...peer.header }, {});
  t.is(peer.body.length, 0);

  const first = next(peer.messages$);
  await client.send({ ID: 'Stan', Port: 63330 }, Buffer.from('one'));
  await first;
  t.true(client.sendTime > 0);
  t.true(peer.recvTime > 0);
  t.deepEqual({ ...peer.header }, { ID: 'Stan', Port: '63330' });
  t.is(peer.body.toString(), 'one');

  const second = next(peer.messages$);
  await client.send({ info: 'two' });
  await second;
  t.deepEqual({ ...peer.header }, { info: 'two' });
  t.is(peer.body.length, 0, 'a message without content leaves an empty body');
});

test('recvTime is the clock when a message arrived, whether read during its delivery or after it', async (t) => {
  let clock = 100;
  const scheduler: SchedulerLike = { now: () => clock, schedule: asyncScheduler.schedule.bind(asyncScheduler) as SchedulerLike['schedule'] };
  const [a, b] = messengerPair({ scheduler });
  t.teardown(() => {
    a.close();
    b.close();
  });
  const readDuring: number[] = [];
  const delivered: string[] = [];
  const subscription = b.messages$.subscribe(({ header }) => {
    if (header['read'] === 'during') readDuring.push(b.recvTime);
    delivered.push(header['read']!);
  });
  t.teardown(() => subscription.unsubscribe());

  await a.send({ read: 'during' });
  await waitFor(() => delivered.length === 1, 'the first message');
  clock = 200;
  t.deepEqual(readDuring, [100], 'read inside the subscriber: the clock as the message arrived');
  t.is(b.recvTime, 100, 'and it stays that');

  clock = 300;
  await a.send({ read: 'after' });
  await waitFor(() => delivered.length === 2, 'the second message');
  clock = 400;
  t.is(b.recvTime, 300, 'read after the delivery: still the clock as it arrived');
});

test('closed$ emits exactly one reason then completes, and a late subscriber still gets it', async (t) => {
  const server = await startServer(t);
  const { client, server: peer } = await link(server, startClient(t));
  const early = record(client.closed$);
  const peerSeen = record(peer.closed$);

  client.close();
  client.close(CloseReasonKind.SendFailed); // the first reason wins

  const expected = [{ kind: 'N', value: { reason: CloseReasonKind.Local } }, { kind: 'C' }];
  t.deepEqual(await within(early, 'closed$ to complete'), expected);
  t.deepEqual(await within(record(client.closed$), 'a late closed$ to complete'), expected);
  t.true(client.closed);
  t.deepEqual(await within(peerSeen, "the peer's closed$"), [{ kind: 'N', value: { reason: CloseReasonKind.PeerClosed } }, { kind: 'C' }]);
});

test('messages$ completes when the connection closes, and a subscriber after the close completes at once', async (t) => {
  const server = await startServer(t);
  const { client, server: peer } = await link(server, startClient(t));
  const seen = record(peer.messages$);
  client.close();
  t.deepEqual(await within(seen, 'messages$ to complete'), [{ kind: 'C' }]);
  t.deepEqual(await within(record(peer.messages$), 'a late messages$ to complete'), [{ kind: 'C' }]);
});

test('a peer that ends its side gives the reason peer-closed', async (t) => {
  const server = await startServer(t);
  const { raw, peer } = await rawPeer(t, server);
  const reason = next(peer.closed$);
  raw.end();
  t.deepEqual(await reason, { reason: CloseReasonKind.PeerClosed });
});

test('a peer that resets the connection gives the reason reset, with the socket error', async (t) => {
  const server = await startServer(t);
  const { raw, peer } = await rawPeer(t, server);
  const reason = next(peer.closed$);
  raw.resetAndDestroy();
  const closed: CloseReason = await reason;
  t.is(closed.reason, CloseReasonKind.Reset);
  t.is((closed.error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
});

test('a peer that breaks the wire format gives the reason protocol-error, with the ProtocolError', async (t) => {
  const server = await startServer(t);
  const { raw, peer } = await rawPeer(t, server);
  const reason = next(peer.closed$);
  await writeRaw(raw, rawFrame('CL:abc'));
  const closed = await reason;
  t.is(closed.reason, CloseReasonKind.ProtocolError);
  t.true(closed.error instanceof ProtocolError);
  t.is((closed.error as ProtocolError).code, ErrorCode.ContentLengthInvalid);
  await within(socketClosed(raw), 'the server to close the raw socket');
});

test('a peer that closes in the middle of a frame gives protocol-error ERR_TRUNCATED_FRAME', async (t) => {
  const server = await startServer(t);
  const { raw, peer } = await rawPeer(t, server);
  const reason = next(peer.closed$);
  const frame = rawFrame('CL:10;info:cut', Buffer.from('0123456789'));
  raw.end(frame.subarray(0, frame.length - 3));
  const closed = await reason;
  t.is(closed.reason, CloseReasonKind.ProtocolError);
  t.true(closed.error instanceof ProtocolError);
  t.is((closed.error as ProtocolError).code, ErrorCode.TruncatedFrame);
});

test('a send on a closed messenger rejects with ConnectionClosedError', async (t) => {
  const server = await startServer(t);
  const { client } = await link(server, startClient(t));
  client.close();
  const error = await t.throwsAsync(client.send({ info: 'late' }), { instanceOf: ConnectionClosedError });
  t.is(error?.code, ErrorCode.ConnectionClosed);
  t.is(error?.code, 'ERR_CONNECTION_CLOSED');
  t.throws(() => client.write(encodeFrame({ info: 'late' })), { instanceOf: ConnectionClosedError });
});

test("with onQueueFull 'fail', a stalled reader holds the sender at its queue limit, and the queue never passes it", async (t) => {
  const maxQueueBytes = 256 * 1024;
  const server = await startServer(t, { maxQueueBytes, onQueueFull: 'fail' });
  // The peer stops reading: the kernel buffers fill, then the sender's queue.
  const { raw, peer: sender } = await rawPeer(t, server, { stalled: true });
  t.is(sender.maxQueueBytes, maxQueueBytes);

  const content = randomBytes(16 * 1024);
  const frameBytes = frameLength(encodeFrame({ seq: 0 }, content));
  let accepted = 0;
  let maxSeen = 0;
  let full: unknown;
  const delivered: Array<Promise<void>> = [];
  // Bounded: far more than loopback kernel buffers can hold, at 16 KiB a frame.
  for (let seq = 0; seq < 100_000 && full === undefined; seq++) {
    const sent = sender.send({ seq }, content);
    maxSeen = Math.max(maxSeen, sender.queuedBytes);
    const outcome = await Promise.race([sent.then(() => 'queued'), nextTurn('queued')]).catch((error: unknown) => error);
    if (outcome === 'queued') {
      accepted++;
      delivered.push(sent);
    } else {
      full = outcome;
    }
  }

  t.log({ accepted, maxSeen, queued: sender.queuedBytes, frameBytes });
  t.true(full instanceof QueueFullError, 'a send finally fails with QueueFullError');
  t.is((full as QueueFullError).code, ErrorCode.QueueFull);
  t.true(maxSeen <= maxQueueBytes, `queued bytes peaked at ${maxSeen}, limit ${maxQueueBytes}`);
  // Held at the limit: not even one more frame fits.
  t.true(sender.queuedBytes + frameBytes > maxQueueBytes);
  t.true(sender.queuedBytes <= maxQueueBytes);
  t.false(sender.closed, 'a plain send does not close the connection');

  // More sends while stalled keep failing and the queue stays where it is.
  for (let i = 0; i < 20; i++) {
    await t.throwsAsync(sender.send({ seq: -1 }, content), { instanceOf: QueueFullError });
    t.true(sender.queuedBytes <= maxQueueBytes);
    await nextTurn();
  }

  // Once the reader reads again, every accepted frame arrives, in order, and every send settles.
  const decoder = new FrameDecoder();
  const seqs: string[] = [];
  raw.on('data', (chunk: Buffer) => decoder.push(chunk, (m) => seqs.push(m.header['seq']!)));
  raw.resume();
  await within(Promise.all(delivered), 'the accepted sends to settle', 30_000);
  await waitFor(() => seqs.length >= accepted, 'every accepted frame to arrive', 30_000);
  t.deepEqual(
    seqs,
    Array.from({ length: accepted }, (_, seq) => String(seq)),
  );
  t.is(sender.queuedBytes, 0);
});


test('sends still queued when a stalled peer resets the connection all fail with SendFailedError', async (t) => {
  const server = await startServer(t, { maxQueueBytes: 256 * 1024, onQueueFull: 'fail' });
  const { raw, peer: sender } = await rawPeer(t, server, { stalled: true });
  const content = randomBytes(16 * 1024);
  const unsettled = new Set<number>();
  const outcomes = new Map<number, unknown>();
  let full = false;
  for (let seq = 0; seq < 100_000 && !full; seq++) {
    unsettled.add(seq);
    sender.send({ seq }, content).then(
      () => outcomes.set(seq, 'sent'),
      (error: unknown) => {
        if (error instanceof QueueFullError) full = true;
        outcomes.set(seq, error);
      },
    );
    await nextTurn();
    for (const s of outcomes.keys()) unsettled.delete(s);
  }
  t.true(full, 'the queue filled up');
  t.true(unsettled.size > 0, 'some sends are still waiting for the kernel');

  const closed = next(sender.closed$);
  raw.resetAndDestroy();
  t.is((await closed).reason, CloseReasonKind.Reset);
  await waitFor(() => [...unsettled].every((seq) => outcomes.has(seq)), 'every waiting send to settle');
  for (const seq of unsettled) {
    const outcome = outcomes.get(seq);
    t.true(outcome instanceof SendFailedError, `send ${seq} failed (got ${String(outcome)})`);
    t.is((outcome as SendFailedError).code, ErrorCode.SendFailed);
    t.is(((outcome as SendFailedError).cause as NodeJS.ErrnoException).code, 'ECONNRESET', 'the cause is the reset');
  }
});

test('past its bound the inbox stops reading the socket, and nothing is lost once someone subscribes', async (t) => {
  const server = await startServer(t, { maxInboxBytes: 64 * 1024 });
  const { client, server: peer } = await link(server, startClient(t));
  const content = randomBytes(16 * 1024);
  const count = 300;
  const sends = Promise.all(Array.from({ length: count }, (_, seq) => client.send({ seq }, content)));
  sends.catch(() => {}); // awaited below, after the reader resumes

  await waitFor(() => peer.socket.isPaused(), 'the full inbox to pause reading');
  const all = within(next(peer.messages$.pipe(take(count), toArray()), 30_000), 'every message', 30_000);
  const messages = await all;
  t.deepEqual(
    messages.map((m) => m.header['seq']),
    Array.from({ length: count }, (_, seq) => String(seq)),
  );
  t.true(messages.every((m) => m.content.equals(content)));
  await within(sends, 'every send to settle', 30_000);
});

test('a subscriber added while a message is being delivered gets the messages after it, not that one again', async (t) => {
  const [a, b] = messengerPair();
  t.teardown(() => {
    a.close();
    b.close();
  });
  const late: string[] = [];
  const first = new Promise<void>((resolve) => {
    const subscription = b.messages$.subscribe((m) => {
      subscription?.unsubscribe();
      b.messages$.subscribe((later) => late.push(later.header['seq']!));
      t.is(m.header['seq'], '1');
      resolve();
    });
  });
  await a.send({ seq: 1 });
  await a.send({ seq: 2 });
  await first;
  await waitFor(() => late.length >= 1, 'the second message');
  t.deepEqual(late, ['2']);
});

test('drain resolves true once every queued frame reached the kernel, false when its deadline cut the flush short', async (t) => {
  const server = await startServer(t, { maxQueueBytes: 8 * 1024 * 1024 });
  const { client } = await link(server, startClient(t));
  await client.send({ info: 'last words' });
  t.true(await within(client.drain(), 'a drain with nothing left to flush'));
  t.is(client.closeReason?.reason, CloseReasonKind.Local);

  const { peer: stalled } = await rawPeer(t, server, { stalled: true });
  const content = Buffer.alloc(64 * 1024);
  for (let seq = 0; seq < 10_000 && stalled.queuedBytes < 1024 * 1024; seq++) {
    stalled.send({ seq }, content).catch(() => {});
    await nextTurn();
  }
  t.true(stalled.queuedBytes > 0, 'frames wait in the queue');
  t.false(await within(stalled.drain(50), 'a drain cut short by its deadline'));
  t.is(stalled.closeReason?.reason, CloseReasonKind.Local);
});

gate(test, find(OPENSSL))('a TLS alert from the peer closes the connection as reset with the TLS error, not as peer-closed', async (t) => {
  // A TLS socket that gets a fatal alert after its handshake emits 'error' and stays open (then
  // 'end' when the peer's FIN comes): the alert must not pass for an orderly close.
  const certs = await makeCertificates();
  t.teardown(() => certs.remove());
  const secureContext = createSecureContext({ key: certs.server.key, cert: certs.server.cert });
  const accepted: TLSSocket[] = [];
  const server = createServer((socket) => {
    const tls = new TLSSocket(socket, { isServer: true, secureContext });
    tls.on('error', () => {});
    accepted.push(tls);
  });
  t.teardown(() => {
    for (const socket of accepted) socket.destroy();
    server.close();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const raw = netConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  const socket = tlsConnect({ socket: raw, ca: certs.ca, servername: 'localhost' });
  t.teardown(() => socket.destroy());
  await within(once(socket, 'secureConnect'), 'the TLS handshake');
  const messenger = new Messenger(socket, 'tls1');
  const closed = next(messenger.closed$);

  // A record the server cannot decrypt, written under the TLS layer: the server answers with a
  // fatal bad_record_mac alert.
  raw.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x20]), Buffer.alloc(32, 0x78)]));
  const { reason, error } = await closed;
  t.is(reason, CloseReasonKind.Reset);
  t.regex(error?.message ?? '', /alert/i);
});

test('flushed() waits while a stalled reader holds queued bytes, resolves once the kernel has them all, and rejects on a closed connection', async (t) => {
  const server = await startServer(t, { writeTimeoutMs: 0 });
  const { raw, peer: sender } = await rawPeer(t, server, { stalled: true });
  t.is(await Promise.race([sender.flushed().then(() => 'flushed'), nextTurn('pending')]), 'flushed', 'nothing queued: at once');
  const content = randomBytes(64 * 1024);
  // Bounded: loopback kernel buffers hold a few MiB; this is more.
  for (let seq = 0; seq < 200 && sender.queuedBytes === 0; seq++) {
    sender.write(encodeFrame({ seq }, content));
    await nextTurn();
  }
  t.true(sender.queuedBytes > 0, 'the kernel stopped taking bytes');
  let flushed = false;
  const whenFlushed = sender.flushed().then(() => (flushed = true));
  for (let i = 0; i < 20; i++) await nextTurn();
  t.false(flushed, 'still waiting on the stalled reader');
  raw.resume(); // reads again, and drops what it reads
  await within(whenFlushed, 'flushed() to resolve');
  t.is(sender.queuedBytes, 0);
  sender.close();
  await t.throwsAsync(sender.flushed(), { instanceOf: ConnectionClosedError });
});

test.serial('a buffer that cannot be allocated while receiving closes that connection with ReceiveFailedError, and nothing else', async (t) => {
  const [a, b] = messengerPair();
  const [c, d] = messengerPair();
  t.teardown(() => [a, b, c, d].forEach((m) => m.close()));
  const closed = next(b.closed$);
  const original = Buffer.allocUnsafe;
  // As under an address-space limit: a large buffer cannot be had.
  Buffer.allocUnsafe = ((size: number) => {
    if (size >= 64 * 1024) throw new RangeError('Array buffer allocation failed');
    return original(size);
  }) as typeof Buffer.allocUnsafe;
  try {
    a.socket.write(rawFrame(`CL:${4 * 1024 * 1024}`));
    // A trickle: one byte a write, each its own chunk on the in-memory link.
    for (let i = 0; i < 300 && !b.closed; i++) {
      a.socket.write(Buffer.of(i & 0xff));
      await nextTurn();
    }
  } finally {
    Buffer.allocUnsafe = original;
  }
  const reason = await closed;
  t.is(reason.reason, CloseReasonKind.Reset);
  t.true(reason.error instanceof ReceiveFailedError);
  t.is((reason.error as ReceiveFailedError).code, ErrorCode.ReceiveFailed);
  t.true(((reason.error as ReceiveFailedError).cause as Error) instanceof RangeError);
  // The other connection goes on as before.
  const got = next(d.messages$);
  await c.send({ info: 'still here' });
  t.is((await got).header['info'], 'still here');
});
