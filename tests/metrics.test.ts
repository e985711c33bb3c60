/**
 * Observability: each connection's and each hub's counters as snapshots (`stats()`) and as
 * streams sampled on the scheduler (`metricsEvery`, `metrics$`), in virtual time and over loopback.
 */
import test from 'ava';
import { map } from 'rxjs';
import { CloseReasonKind } from '../lib/connection/close-reason.js';
import { encodeFrame } from '../lib/protocol/encode.js';
import { frameLength } from '../lib/protocol/message.js';
import { RefusalReason } from '../lib/hub/hub-stats.js';
import { MemoryHub, messengerPair } from '../lib/testing/index.js';
import { link, next, startClient, startServer, waitFor } from './helpers/loopback.js';
import { testScheduler } from './helpers/marbles.js';

test('stats count bytes and messages both ways, and each end agrees with the other', async (t) => {
  const server = await startServer(t);
  server.incoming$.subscribe(({ from, header, content }) => void from.send({ back: header['n']! }, content).catch(() => {}));
  const { client, server: peer } = await link(server, startClient(t, { connectCheckMs: 0 }));
  const count = 25;
  let bytes = 0;
  const echoed = new Promise<void>((resolve) => {
    let seen = 0;
    client.messages$.subscribe(() => ++seen === count && resolve());
  });
  for (let n = 0; n < count; n++) {
    const content = Buffer.alloc(n * 100, n);
    bytes += frameLength(encodeFrame({ n }, content));
    await client.send({ n }, content);
  }
  await echoed;
  const up = client.stats();
  t.is(up.messagesOut, count);
  t.is(up.bytesOut, bytes);
  // Echoes carry `back` instead of `n`: same length of header text for each.
  t.is(up.messagesIn, count);
  t.is(up.bytesIn, bytes + count * ('back'.length - 'n'.length));
  await waitFor(() => peer.stats().bytesOut === up.bytesIn && peer.queuedBytes === 0, 'the server side to settle');
  const down = peer.stats();
  t.deepEqual(
    { messagesIn: down.messagesIn, bytesIn: down.bytesIn, messagesOut: down.messagesOut, bytesOut: down.bytesOut },
    { messagesIn: up.messagesOut, bytesIn: up.bytesOut, messagesOut: up.messagesIn, bytesOut: up.bytesIn },
  );
  t.is(down.id, peer.id);
  t.false(down.closed);
  const hub = server.stats();
  t.is(hub.connections, 1);
  t.is(hub.messagesIn, count);
  t.is(hub.bytesIn, bytes);
  t.is(hub.bytesOut, up.bytesIn);
});

test('hub stats count closes and refusals by reason, and keep the traffic of closed connections', async (t) => {
  const hub = new MemoryHub({ maxConnections: 2 });
  t.teardown(() => hub.stop());
  const [a, b] = [hub.connectPeer(), hub.connectPeer()];
  const refused = hub.connectPeer();
  await next(refused.closed$);
  await a.send({ info: 'one' });
  await b.send({ info: 'two' });
  await waitFor(() => hub.stats().messagesIn === 2, 'both messages');
  const before = hub.stats();
  hub.closeConnection('c1');
  b.close();
  await waitFor(() => hub.stats().connections === 0, 'both closes');
  const after = hub.stats();
  t.is(after.refusals[RefusalReason.MaxConnections], 1);
  t.is(after.refusals[RefusalReason.Stopped], 0);
  t.is(after.closes[CloseReasonKind.Local], 1);
  t.is(after.closes[CloseReasonKind.PeerClosed], 1);
  t.is(after.closes[CloseReasonKind.IdleTimeout], 0);
  t.is(after.closes[CloseReasonKind.MaxConnections], 0, 'a refused connection is a refusal, not a close');
  t.is(after.messagesIn, before.messagesIn);
  t.is(after.bytesIn, before.bytesIn);
});

test('metricsEvery samples a snapshot at once and then every period on the scheduler', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ expectObservable }) => {
    const hub = new MemoryHub({ scheduler });
    const connections$ = hub.metricsEvery(10).pipe(map((s) => s.connections));
    expectObservable(connections$, '^ 25ms !').toBe('a 9ms a 9ms a', { a: 0 });
  });
});

test("a connection's metrics end with a last snapshot when it closes, and start with one after", (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const [a, b] = messengerPair({ scheduler });
    cold('---c').subscribe(() => {
      a.close();
      b.close();
    });
    const closed$ = a.metricsEvery(2).pipe(map((s) => s.closed));
    expectObservable(closed$).toBe('f-f(t|)', { f: false, t: true });
    const late$ = a.metricsEvery(2).pipe(map((s) => s.closed));
    expectObservable(late$, '----^').toBe('----(t|)', { t: true });
  });
});

test('metricsEvery sets no timer until subscribed and leaves none after unsubscribing', (t) => {
  const scheduler = testScheduler(t);
  const hub = new MemoryHub({ scheduler });
  const metrics$ = hub.metricsEvery(100);
  t.is(scheduler.actions.length, 0);
  const seen: number[] = [];
  const subscription = metrics$.subscribe((s) => seen.push(s.connections));
  t.is(scheduler.actions.length, 1);
  subscription.unsubscribe();
  t.is(scheduler.actions.length, 0);
  t.deepEqual(seen, [0]);
});

test('hub metrics$ ends with a last snapshot once the hub has stopped', async (t) => {
  const hub = new MemoryHub();
  const peer = hub.connectPeer();
  await peer.send({ info: 'x' });
  await waitFor(() => hub.stats().messagesIn === 1, 'the message');
  const snapshots: number[] = [];
  const done = new Promise<void>((resolve) => hub.metrics$.subscribe({ next: (s) => snapshots.push(s.connections), complete: resolve }));
  await hub.stop();
  await done;
  t.is(snapshots[0], 1);
  t.is(snapshots.at(-1), 0);
});
