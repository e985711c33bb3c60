/**
 * Reconnecting: the backoff of `retryWithBackoff` in virtual time (marbles), then `reconnect` and
 * `Client.dial` over loopback against a server that stops and comes back on the same port.
 */
import test from 'ava';
import { Observable, defer, filter, firstValueFrom, lastValueFrom, take, toArray, type Subscription } from 'rxjs';
import { ConnectFailedError, ConnectionClosedError, ErrorCode, HubStoppedError, InvalidOptionError } from '../lib/errors.js';
import { CloseReasonKind } from '../lib/connection/close-reason.js';
import type { Messenger } from '../lib/connection/messenger.js';
import type { Client } from '../lib/hub/client.js';
import type { Server } from '../lib/hub/server.js';
import { backoffDelay, reconnect, retryWithBackoff, type RetryScheduled } from '../lib/hub/reconnect.js';
import { ConnectionLostError, NotConnectedError, OfflineQueueFullError } from '../lib/errors.js';
import type { ConnectionState, ReconnectingConnection } from '../lib/hub/reconnecting-connection.js';
import { testScheduler } from './helpers/marbles.js';
import { WAIT_MS, next, startClient, startServer, waitFor, within } from './helpers/loopback.js';

const refused = new Error('ECONNREFUSED');

/** A source whose n-th subscription plays the n-th cold observable (the last one from then on). */
function attempts<T>(sources: Observable<T>[]): Observable<T> {
  let n = 0;
  return defer(() => sources[Math.min(n++, sources.length - 1)]!);
}

/** Plain retries, for deepEqual. */
const plain = (retries: RetryScheduled[]) => retries.map(({ attempt, delayMs }) => ({ attempt, delayMs }));

// --- the backoff, in virtual time ---------------------------------------------------------------

test('backoffDelay grows by factor from initialMs, is capped at maxMs, and draws below its ceiling', (t) => {
  const options = { initialMs: 100, factor: 2, maxMs: 1000 };
  t.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, { ...options, random: () => 1 })), [100, 200, 400, 800, 1000, 1000]);
  t.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, { ...options, random: () => 0.5 })), [50, 100, 200, 400, 500, 500]);
  t.deepEqual([1, 6].map((n) => backoffDelay(n, { ...options, random: () => 0 })), [0, 0]);
  t.is(backoffDelay(3, { initialMs: 100, factor: 1.5, maxMs: 1000, random: () => 1 }), 225);
  t.is(backoffDelay(2000, { random: () => 1 }), 10_000, 'no overflow past the default cap');
});

test('retryWithBackoff waits initialMs, then factor times longer each retry, capped at maxMs, and gives up after maxAttempts', (t) => {
  testScheduler(t).run(({ cold, expectObservable, expectSubscriptions }) => {
    const source = cold('-#', undefined, refused);
    const result = source.pipe(retryWithBackoff({ initialMs: 10, factor: 2, maxMs: 30, random: () => 1, maxAttempts: 4 }));
    // Fails at 1, 12, 33, 64 and 95; waits 10, 20, 30 (capped), 30 in between.
    expectObservable(result).toBe('95ms #', undefined, refused);
    expectSubscriptions(source.subscriptions).toBe(['^!', '11ms ^!', '32ms ^!', '63ms ^!', '94ms ^!']);
  });
});

test('retryWithBackoff reports every retry with its attempt and delay before waiting', (t) => {
  const retries: RetryScheduled[] = [];
  testScheduler(t).run(({ cold, expectObservable }) => {
    const source = cold('-#', undefined, refused);
    const result = source.pipe(retryWithBackoff({ initialMs: 10, maxMs: 30, random: () => 1, maxAttempts: 4, onRetry: (r) => retries.push(r) }));
    expectObservable(result).toBe('95ms #', undefined, refused);
  });
  t.deepEqual(plain(retries), [
    { attempt: 1, delayMs: 10 },
    { attempt: 2, delayMs: 20 },
    { attempt: 3, delayMs: 30 },
    { attempt: 4, delayMs: 30 },
  ]);
  t.true(retries.every((r) => r.error === refused));
});

test('retryWithBackoff applies full jitter: each delay is the injected draw times its ceiling', (t) => {
  const draws = [0.5, 0.25, 0.9];
  const retries: RetryScheduled[] = [];
  testScheduler(t).run(({ cold, expectObservable, expectSubscriptions }) => {
    const source = cold('-#', undefined, refused);
    const result = source.pipe(
      retryWithBackoff({ initialMs: 100, maxMs: 1000, random: () => draws.shift()!, maxAttempts: 3, onRetry: (r) => retries.push(r) }),
    );
    // Ceilings 100, 200, 400: delays 50, 50, 360.
    expectObservable(result).toBe('464ms #', undefined, refused);
    expectSubscriptions(source.subscriptions).toBe(['^!', '51ms ^!', '102ms ^!', '463ms ^!']);
  });
  t.deepEqual(
    plain(retries).map((r) => r.delayMs),
    [50, 50, 360],
  );
});

for (const [resetAfterMs, stable, delays, done] of [
  [50, 'resets the count once the source has been up for resetAfterMs', [10, 20, 10, 20], '33ms a 92ms |'],
  [100, 'keeps counting when the source fails before resetAfterMs', [10, 20, 40, 80], '33ms a 182ms |'],
] as const) {
  test(`retryWithBackoff ${stable}`, (t) => {
    const retries: RetryScheduled[] = [];
    testScheduler(t).run(({ cold, expectObservable }) => {
      // Fails twice, is up from frame 33 to 94 (61 frames), fails once more, then completes.
      const source = attempts([cold('-#', undefined, refused), cold('-#', undefined, refused), cold('-a 60ms #', undefined, refused), cold('-#', undefined, refused), cold('-|')]);
      const result = source.pipe(retryWithBackoff({ initialMs: 10, maxMs: 1000, random: () => 1, resetAfterMs, onRetry: (r) => retries.push(r) }));
      expectObservable(result).toBe(done);
    });
    t.deepEqual(
      plain(retries).map((r) => r.delayMs),
      [...delays],
    );
  });
}

test('retryWithBackoff lets through at once an error no retry can mend, or one shouldRetry refuses', (t) => {
  const retries: RetryScheduled[] = [];
  const stopped = new HubStoppedError();
  const fatal = new Error('fatal');
  testScheduler(t).run(({ cold, expectObservable }) => {
    const onRetry = (r: RetryScheduled) => retries.push(r);
    expectObservable(cold('-#', undefined, stopped).pipe(retryWithBackoff({ onRetry }))).toBe('-#', undefined, stopped);
    const shouldRetry = (error: unknown) => error !== fatal;
    expectObservable(attempts([cold('-#', undefined, refused), cold('-#', undefined, fatal)]).pipe(retryWithBackoff({ initialMs: 10, random: () => 1, shouldRetry, onRetry }))).toBe(
      '12ms #',
      undefined,
      fatal,
    );
  });
  t.deepEqual(plain(retries), [{ attempt: 1, delayMs: 10 }]);
});

test('retryWithBackoff counts per subscriber: two subscribers back off independently', (t) => {
  testScheduler(t).run(({ cold, expectObservable }) => {
    const source = cold('-#', undefined, refused);
    const result = source.pipe(retryWithBackoff({ initialMs: 10, random: () => 1, maxAttempts: 1 }));
    expectObservable(result).toBe('12ms #', undefined, refused);
    expectObservable(result, '5ms ^').toBe('17ms #', undefined, refused);
  });
  t.pass();
});

test('retryWithBackoff and reconnect refuse unusable options when the operator is made, naming them', (t) => {
  t.throws(() => retryWithBackoff({ factor: 0.5 }), { instanceOf: InvalidOptionError, message: /^option factor: 0\.5 is not/ });
  t.throws(() => retryWithBackoff({ initialMs: 500, maxMs: 100 }), { instanceOf: InvalidOptionError, message: /^option maxMs: 100 is not at least initialMs/ });
  t.throws(() => retryWithBackoff({ initialMs: -1 }), { instanceOf: InvalidOptionError, message: /^option initialMs/ });
  t.throws(() => retryWithBackoff({ maxAttempts: 1.5 }), { instanceOf: InvalidOptionError, message: /^option maxAttempts/ });
  t.throws(() => retryWithBackoff({ resetAfterMs: Number.NaN }), { instanceOf: InvalidOptionError, message: /^option resetAfterMs/ });
  t.throws(() => backoffDelay(0), { instanceOf: InvalidOptionError, message: /^option attempt/ });
  t.throws(() => reconnect({ maxMs: -1 }), { instanceOf: InvalidOptionError, message: /^option maxMs/ });
});

// --- over loopback ------------------------------------------------------------------------------

/** Quick backoff for loopback tests: at most 50 ms between dials. */
const quick = { initialMs: 10, maxMs: 50 } as const;

const isOpen = (state: ConnectionState): state is Extract<ConnectionState, { type: 'open' }> => state.type === 'open';

/** The next `open` state (the current one, if open) of a dialled connection. */
const opened = (connection: ReconnectingConnection) => next(connection.state$.pipe(filter(isOpen)));

/** Records every state of a dialled connection. */
function recordStates(connection: ReconnectingConnection): ConnectionState[] {
  const states: ConnectionState[] = [];
  connection.state$.subscribe((state) => states.push(state));
  return states;
}

/** The state types, as one string: `connecting open retrying connecting ...`. */
const path = (states: ConnectionState[]) => states.map((s) => s.type).join(' ');

/** Dials with the given options; the connection is closed in teardown. */
function dial(t: Parameters<typeof startClient>[0], client: Client, port: number, options: Parameters<Client['dial']>[2] = {}): ReconnectingConnection {
  const connection = client.dial('127.0.0.1', port, { ...quick, ...options });
  t.teardown(() => connection.close());
  return connection;
}

/** Stops the server and waits until the connection knows it is down. */
async function bringDown(server: Server, connection: ReconnectingConnection): Promise<void> {
  await server.stop();
  await next(connection.state$.pipe(filter((s) => s.type === 'retrying')));
}

/** The first `count` messages the server receives, as their `info`. */
const infos = (server: Server, count: number) =>
  within(
    lastValueFrom(server.incoming$.pipe(take(count), toArray())).then((all) => all.map((m) => m.header['info'])),
    `${count} messages at the server`,
  );

test('a dialled connection goes open, retrying, open when its server stops and another starts on the same port, and messages$ goes on', async (t) => {
  const first = await startServer(t);
  const { port } = first.address;
  const client = startClient(t);
  const connection = dial(t, client, port);
  const states = recordStates(connection);
  const received: unknown[] = [];
  connection.messages$.subscribe(({ header }) => received.push(header['info']));

  const one = await opened(connection);
  t.is(connection.messenger, one.messenger);
  t.deepEqual(client.messengers, [one.messenger]);
  const firstPeer = (await next(first.connections$)).messenger;
  await firstPeer.send({ info: 'from the first server' });
  const atFirst = infos(first, 1);
  await connection.send({ info: 'to the first server' });
  t.deepEqual(await atFirst, ['to the first server']);

  await bringDown(first, connection);
  const second = await startServer(t, { port });
  const two = await opened(connection);
  t.not(two.messenger, one.messenger);
  t.deepEqual(client.messengers, [two.messenger]);
  const secondPeer = (await next(second.connections$)).messenger;
  await secondPeer.send({ info: 'from the second server' });
  const atSecond = infos(second, 1);
  await connection.send({ info: 'to the second server' });
  t.deepEqual(await atSecond, ['to the second server']);
  await waitFor(() => received.length === 2, 'both messages at the client');

  t.deepEqual(received, ['from the first server', 'from the second server']);
  t.regex(path(states), /^connecting open (retrying connecting )+open$/);
  const lost = states.find((s) => s.type === 'retrying');
  t.true(lost?.type === 'retrying' && lost.error instanceof ConnectionLostError);
  t.is(lost?.type === 'retrying' ? (lost.error as ConnectionLostError).reason.reason : undefined, CloseReasonKind.PeerClosed);
  t.is(lost?.type === 'retrying' ? lost.attempt : undefined, 1);
});

test('sends while the connection is down fail fast with NotConnectedError', async (t) => {
  const server = await startServer(t);
  const connection = dial(t, startClient(t), server.address.port);
  await opened(connection);
  await bringDown(server, connection);

  const error = await t.throwsAsync(connection.send({ info: 'lost' }), { instanceOf: NotConnectedError });
  t.is(error?.code, ErrorCode.NotConnected);
  t.is(error?.code, 'ERR_NOT_CONNECTED');
  t.is(error?.address, `127.0.0.1:${server.address.port}`);
  t.is(connection.messenger, undefined);
});

test('with queueWhileDown, sends while down wait in a bounded queue and follow the "on open" work after the reconnect; past the bound they are refused and counted', async (t) => {
  const first = await startServer(t);
  const { port } = first.address;
  const connection = dial(t, startClient(t), port, { queueWhileDown: { maxMessages: 2, maxBytes: 1024 } });
  // The "on open" work: a hello on every connection, the seed's registration with a tracker.
  connection.state$.pipe(filter(isOpen)).subscribe(({ messenger }) => void messenger.send({ info: 'hello' }));
  t.deepEqual(await infos(first, 1), ['hello']);
  await bringDown(first, connection);

  const queued = [connection.send({ info: 'q1' }), connection.send({ info: 'q2' })];
  const tooMany = await t.throwsAsync(connection.send({ info: 'q3' }), { instanceOf: OfflineQueueFullError });
  t.is(tooMany?.code, 'ERR_OFFLINE_QUEUE_FULL');
  t.is(tooMany?.queuedMessages, 2);
  const tooBig = await t.throwsAsync(connection.send({ info: 'big' }, Buffer.alloc(2000)), { instanceOf: OfflineQueueFullError });
  t.is(tooBig?.frameBytes, 2 + 'CL:2000;info:big'.length + 2000);
  t.like(connection.offlineQueue, { messages: 2, overflowed: 2 });

  const second = await startServer(t, { port });
  t.deepEqual(await infos(second, 3), ['hello', 'q1', 'q2']);
  await within(Promise.all(queued), 'the queued sends to settle');
  t.deepEqual(connection.offlineQueue, { messages: 0, bytes: 0, overflowed: 2 });
});

test('a connection the server drops as soon as it opens is re-dialled after ever longer delays', async (t) => {
  const server = await startServer(t);
  const { port } = server.address;
  const client = startClient(t);
  const connection = dial(t, client, port, { initialMs: 5, maxMs: 1000, random: () => 1, resetAfterMs: 60_000 });
  const states = recordStates(connection);
  // The server drops the connection as soon as it opens, three times.
  const drops = server.connections$.pipe(filter((e) => e.type === 'open'), take(3)).subscribe(({ messenger }) => messenger.close());
  t.teardown(() => drops.unsubscribe());
  await waitFor(() => states.filter((s) => s.type === 'retrying').length >= 3, 'three losses');
  const retrying = states.filter((s) => s.type === 'retrying');
  t.deepEqual(
    retrying.slice(0, 3).map((s) => (s.type === 'retrying' ? [s.attempt, s.delayMs] : [])),
    [
      [1, 5],
      [2, 10],
      [3, 20],
    ],
  );
  await opened(connection);
});

test('close() ends a dialled connection: state closed, messages$ complete, queued and later sends refused, the connection closed', async (t) => {
  const server = await startServer(t);
  const client = startClient(t);
  const connection = dial(t, client, server.address.port, { queueWhileDown: { maxMessages: 10, maxBytes: 10_000 } });
  const states = recordStates(connection);
  const messagesDone = lastValueFrom(connection.messages$.pipe(toArray()));
  const { messenger } = await opened(connection);

  await within(connection.close(), 'the socket to close');
  t.is(messenger.closeReason?.reason, CloseReasonKind.Local);
  t.deepEqual(await within(messagesDone, 'messages$ to complete'), []);
  t.deepEqual(states.at(-1), { type: 'closed' });
  t.deepEqual(await within(lastValueFrom(connection.state$.pipe(toArray())), 'state$ after the end'), [{ type: 'closed' }]);
  await t.throwsAsync(connection.send({ info: 'late' }), { instanceOf: ConnectionClosedError });
  t.deepEqual(client.messengers, []);
  await within(connection.close(), 'a second close');
});

test('close() while down rejects the queued sends with ConnectionClosedError', async (t) => {
  const server = await startServer(t);
  const connection = dial(t, startClient(t), server.address.port, { queueWhileDown: { maxMessages: 10, maxBytes: 10_000 } });
  await opened(connection);
  await bringDown(server, connection);
  const queued = connection.send({ info: 'never' });
  await connection.close();
  await t.throwsAsync(queued, { instanceOf: ConnectionClosedError });
  t.deepEqual(connection.state, { type: 'closed' });
});

test('a dialled connection gives up after maxAttempts failed dials, closed with the last ConnectFailedError', async (t) => {
  const server = await startServer(t);
  const { port } = server.address;
  await server.stop();
  const connection = dial(t, startClient(t), port, { initialMs: 1, maxAttempts: 2 });
  const states = await within(lastValueFrom(connection.state$.pipe(toArray())), 'the connection to give up');
  t.is(path(states), 'connecting retrying connecting retrying connecting closed');
  const last = states.at(-1)!;
  t.true(last.type === 'closed' && last.error instanceof ConnectFailedError);
  t.is((last.type === 'closed' ? (last.error as ConnectFailedError).cause as NodeJS.ErrnoException : undefined)?.code, 'ECONNREFUSED');
});

test("stop() of the client ends its dialled connections, even in the middle of a backoff", async (t) => {
  const server = await startServer(t);
  const { port } = server.address;
  await server.stop();
  const client = startClient(t);
  const connection = dial(t, client, port, { initialMs: 60_000, maxMs: 60_000, random: () => 1 });
  await next(connection.state$.pipe(filter((s) => s.type === 'retrying')));
  await within(client.stop(), 'the client to stop');
  t.deepEqual(connection.state, { type: 'closed' });
  t.throws(() => client.dial('127.0.0.1', port), { instanceOf: HubStoppedError });
});

test('dial refuses a bad port or queue bound at once, naming the option', (t) => {
  const client = startClient(t);
  t.throws(() => client.dial('127.0.0.1', 0), { instanceOf: InvalidOptionError, message: /^option port/ });
  t.throws(() => client.dial('127.0.0.1', 5000, { queueWhileDown: { maxMessages: 0, maxBytes: 10 } }), {
    instanceOf: InvalidOptionError,
    message: /^option queueWhileDown\.maxMessages/,
  });
  t.throws(() => client.dial('127.0.0.1', 5000, { factor: 0 }), { instanceOf: InvalidOptionError, message: /^option factor/ });
  t.deepEqual(client.messengers, []);
});

test('the reconnect operator emits a new Messenger after each loss, and unsubscribing closes the current one', async (t) => {
  const first = await startServer(t);
  const { port } = first.address;
  const client = startClient(t);
  const messengers: Messenger[] = [];
  let failed: unknown;
  const subscription: Subscription = client
    .connect('127.0.0.1', port)
    .pipe(reconnect(quick))
    .subscribe({ next: (m) => messengers.push(m), error: (e: unknown) => (failed = e) });
  t.teardown(() => subscription.unsubscribe());

  await waitFor(() => messengers.length === 1, 'the first connection');
  await first.stop();
  await startServer(t, { port });
  await waitFor(() => messengers.length === 2, 'the second connection');
  t.true(messengers[0]!.closed);
  t.false(messengers[1]!.closed);

  subscription.unsubscribe();
  t.is(messengers[1]!.closeReason?.reason, CloseReasonKind.Local);
  t.is(failed, undefined);
  await within(firstValueFrom(messengers[1]!.closed$), 'the close', WAIT_MS);
});

test('the error codes of reconnecting are stable strings', (t) => {
  t.like(ErrorCode, { NotConnected: 'ERR_NOT_CONNECTED', OfflineQueueFull: 'ERR_OFFLINE_QUEUE_FULL', ConnectionLost: 'ERR_CONNECTION_LOST' });
  t.is(new ConnectionLostError('c1', { reason: CloseReasonKind.Reset, error: refused }).cause, refused);
  t.is(ErrorCode.ConnectFailed, 'ERR_CONNECT_FAILED');
});
