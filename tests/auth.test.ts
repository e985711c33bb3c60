/**
 * The authentication gate: the `authenticate` operator as marbles over fake connections, then the
 * hub's gate in memory and over loopback, with a client that sends its credentials as `hello`.
 */
import test from 'ava';
import { Subject, of, type Observable } from 'rxjs';
import { CloseReasonKind } from '../lib/connection/close-reason.js';
import { AuthFailedError, AuthTimeoutError, ErrorCode } from '../lib/errors.js';
import { authenticate, type Authenticatable } from '../lib/hub/authenticate.js';
import type { Message } from '../lib/protocol/message.js';
import { MemoryHub } from '../lib/testing/index.js';
import { next, rawConnect, socketClosed, startClient, startServer, waitFor, within } from './helpers/loopback.js';
import { testScheduler } from './helpers/marbles.js';

/** A connection for the operator: its messages from a marble, its closes recorded as `id reason code`. */
class FakeConnection implements Authenticatable {
  readonly closes: string[] = [];
  private readonly closing = new Subject<void>();
  readonly closed$ = this.closing.asObservable();

  constructor(
    readonly id: string,
    readonly messages$: Observable<Message>,
  ) {}

  close(reason?: CloseReasonKind, error?: Error): void {
    this.closes.push(`${this.id} ${reason} ${(error as AuthFailedError | undefined)?.code}`);
    this.closing.next();
  }
}

const token = (value: string): Message => ({ header: { token: value }, content: Buffer.alloc(0) });
const messages = { g: token('good'), b: token('bad'), x: token('after') };
const tokenIs = ({ header }: Message): boolean => header['token'] === 'good';

// The operator, in virtual time

test('authenticate lets a connection through once its first message passes, and reads no further', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
    const messages$ = cold('--g--x', messages);
    const a = new FakeConnection('a', messages$);
    expectObservable(of(a).pipe(authenticate(tokenIs, 10, scheduler))).toBe('--(a|)', { a });
    expectSubscriptions(messages$.subscriptions).toBe('^-!');
  });
});

test('a first message that fails the check closes the connection as auth-failed', (t) => {
  const scheduler = testScheduler(t);
  let bad: FakeConnection | undefined;
  scheduler.run(({ cold, expectObservable }) => {
    bad = new FakeConnection('b', cold('-b-g', messages));
    expectObservable(of(bad).pipe(authenticate(tokenIs, 10, scheduler))).toBe('-|');
  });
  t.deepEqual(bad?.closes, [`b ${CloseReasonKind.AuthFailed} ${ErrorCode.AuthFailed}`]);
});

test('a check that throws closes as auth-failed with what it threw as the cause', (t) => {
  const scheduler = testScheduler(t);
  const cause = new Error('database down');
  let error: unknown;
  scheduler.run(({ cold, expectObservable }) => {
    const c = new FakeConnection('c', cold('-g', messages));
    c.close = (reason, e) => void (error = [reason, e]);
    const check = (): boolean => {
      throw cause;
    };
    expectObservable(of(c).pipe(authenticate(check, 10, scheduler))).toBe('-|');
  });
  const [reason, e] = error as [CloseReasonKind, AuthFailedError];
  t.is(reason, CloseReasonKind.AuthFailed);
  t.true(e instanceof AuthFailedError);
  t.is(e.cause, cause);
});

test('no first message within the deadline, or a verdict that comes too late, closes as auth-timeout', (t) => {
  const scheduler = testScheduler(t);
  const closes: string[] = [];
  scheduler.run(({ cold, expectObservable }) => {
    const silent = new FakeConnection('s', cold('------------g', messages));
    const slow = new FakeConnection('v', cold('-g', messages));
    for (const c of [silent, slow]) c.close = (reason, e) => void closes.push(`${c.id} ${reason} ${(e as AuthTimeoutError).code}`);
    // The slow check answers 9 ms after the message, past the 5 ms deadline that counts from the start.
    const check = (): Observable<boolean> => cold('---------t', { t: true });
    expectObservable(of(silent).pipe(authenticate(tokenIs, 5, scheduler))).toBe('5ms |');
    expectObservable(of(slow).pipe(authenticate(check, 5, scheduler))).toBe('5ms |');
  });
  t.deepEqual(closes, [`s ${CloseReasonKind.AuthTimeout} ${ErrorCode.AuthTimeout}`, `v ${CloseReasonKind.AuthTimeout} ${ErrorCode.AuthTimeout}`]);
});

test('a verdict that arrives after the connection closed lets nothing in', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const d = new FakeConnection('d', cold('-g', messages));
    cold('---c').subscribe(() => d.close(CloseReasonKind.PeerClosed));
    const check = (): Observable<boolean> => cold('----t', { t: true });
    expectObservable(of(d).pipe(authenticate(check, 20, scheduler))).toBe('---|');
  });
});

// The hub's gate

test('the hub opens a connection only once it has authenticated, and never delivers the credentials', async (t) => {
  const hub = new MemoryHub({ authenticate: async ({ header }) => header['token'] === 'good' });
  t.teardown(() => hub.stop());
  const events: string[] = [];
  hub.connections$.subscribe((e) => events.push(`${e.type} ${e.messenger.id}`));
  const incoming: string[] = [];
  hub.incoming$.subscribe(({ from, header }) => incoming.push(`${from.id} ${JSON.stringify(header)}`));

  const member = hub.connectPeer();
  t.deepEqual(hub.messengers, [], 'not live before authenticating');
  t.is(hub.stats().authenticating, 1);
  await member.send({ token: 'good' });
  await member.send({ info: 'hello' });
  await waitFor(() => incoming.length >= 1, 'the member message');
  t.deepEqual(events, ['open c1']);
  t.deepEqual(incoming, ['c1 {"info":"hello"}']);

  // One that talks before giving credentials: its first message is the one judged.
  const intruder = hub.connectPeer();
  await intruder.send({ info: 'let me in' });
  await intruder.send({ token: 'good' }).catch(() => {});
  await next(intruder.closed$);
  t.deepEqual(events, ['open c1']);
  t.deepEqual(incoming, ['c1 {"info":"hello"}']);
  const stats = hub.stats();
  t.is(stats.closes[CloseReasonKind.AuthFailed], 1);
  t.is(stats.authenticating, 0);
  t.is(stats.connections, 1);
});

test('a hub whose clients send their credentials as hello delivers their messages and nothing of the others', async (t) => {
  const server = await startServer(t, {
    authenticate: ({ header }) => header['token'] === 'secret',
    authTimeoutMs: 1000,
  });
  const incoming: string[] = [];
  server.incoming$.subscribe(({ from, header }) => incoming.push(`${from.id} ${header['info'] ?? JSON.stringify(header)}`));
  const opened: string[] = [];
  server.connections$.subscribe((e) => e.type === 'open' && opened.push(e.messenger.id));

  // A client with the wrong secret, which talks straight away: the server closes it.
  const intruder = startClient(t, { hello: { header: { token: 'guess' } } });
  const wrong = await next(intruder.connect('127.0.0.1', server.address.port));
  await wrong.send({ info: 'let me in' }).catch(() => {});
  await within(wrong.whenSocketClosed(), 'the intruder to be closed');

  // A raw connection that never says anything: closed at the deadline.
  const raw = await rawConnect(t, server.address.port);
  await within(socketClosed(raw), 'the silent connection to be closed');

  // A client with the secret.
  const member = startClient(t, { hello: { header: { token: 'secret' } } });
  const good = await next(member.connect('127.0.0.1', server.address.port));
  await good.send({ info: 'hi' });
  await waitFor(() => incoming.length >= 1, 'the member message');
  t.is(opened.length, 1, 'only the member was ever opened');
  t.deepEqual(incoming, [`${opened[0]} hi`]);
  const stats = server.stats();
  t.is(stats.closes[CloseReasonKind.AuthFailed], 1);
  t.is(stats.closes[CloseReasonKind.AuthTimeout], 1);
  t.is(stats.connections, 1);
});
