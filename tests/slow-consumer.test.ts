/**
 * A stalled reader during a broadcast storm, over loopback: the server broadcasts to several
 * clients as fast as the ones that read can take it, while one client has stopped reading. That
 * one is closed as `slow-consumer` once its queue is full; the others get every message in order;
 * and no connection's queue ever holds more than `maxQueueBytes`, sampled on every broadcast and
 * from the metrics streams. Then `onQueueFull` decides what a plain send to a stalled reader does.
 */
import test, { type ExecutionContext } from 'ava';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CloseReasonKind } from '../lib/connection/close-reason.js';
import type { Messenger } from '../lib/connection/messenger.js';
import type { ConnectionStats } from '../lib/connection/metrics.js';
import { ErrorCode, QueueFullError } from '../lib/errors.js';
import type { HubStats } from '../lib/hub/hub-stats.js';
import { encodeFrame, frameLength } from '../lib/protocol/index.js';
import { WAIT_MS, link, next, rawPeer, startClient, startServer, waitFor } from './helpers/loopback.js';

const MAX_QUEUE_BYTES = 64 * 1024;
const READERS = 4;
/** Bounds of the storm: at most this many broadcasts in all, and this many after the stalled reader is gone. */
const MAX_BROADCASTS = 20_000;
const AFTER_CLOSE = 200;
/** The queue limit of the plain-send tests. */
const SMALL_QUEUE_BYTES = 16 * 1024;

/**
 * Waits, a loop turn at a time and at most `WAIT_MS`, until `condition` holds. For a sender that
 * paces itself on its readers' queues, as a broadcaster that must not drop its good readers does.
 */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`);
    await nextTurn();
  }
}

test('a reader that stops during a broadcast storm is closed as slow-consumer, the others get everything in order, and no queue passes maxQueueBytes', async (t) => {
  t.timeout(60_000);
  const server = await startServer(t, { maxQueueBytes: MAX_QUEUE_BYTES });
  const client = startClient(t);
  const readers = await Promise.all(Array.from({ length: READERS }, () => link(server, client)));
  const received = readers.map(() => [] as string[]);
  readers.forEach((reader, i) => reader.client.messages$.subscribe(({ header }) => received[i]!.push(header['seq']!)));

  const stalled = await link(server, client);
  const stalledGot: string[] = [];
  stalled.client.messages$.subscribe(({ header }) => stalledGot.push(header['seq']!));
  stalled.client.socket.pause(); // stops reading: the kernel buffers fill, then the server's queue

  // The metrics streams sample the queues while the storm runs.
  const hubSamples: HubStats[] = [];
  const stalledSamples: ConnectionStats[] = [];
  const sampling = server.metricsEvery(5).subscribe((stats) => hubSamples.push(stats));
  t.teardown(() => sampling.unsubscribe());
  stalled.server.metricsEvery(5).subscribe((stats) => stalledSamples.push(stats));

  const content = Buffer.alloc(4096, 0x5a);
  const frameBytes = frameLength(encodeFrame({ seq: MAX_BROADCASTS }, content));
  const good: Messenger[] = readers.map((reader) => reader.server);
  const everyone = [...good, stalled.server];
  const sends: Array<Promise<unknown>> = [];
  let peakConnection = 0;
  let peakHub = 0;
  let sent = 0;
  for (let after = 0; after < AFTER_CLOSE && sent < MAX_BROADCASTS; sent++) {
    // Paced on the readers that read, never on the stalled one.
    await until(() => good.every((m) => m.queuedBytes + frameBytes <= MAX_QUEUE_BYTES), 'room in the readers\' queues');
    sends.push(server.broadcast({ seq: sent }, content));
    // Sampled right after the broadcast queued its frames, when the queues are fullest.
    for (const messenger of everyone) peakConnection = Math.max(peakConnection, messenger.stats().queuedBytes);
    peakHub = Math.max(peakHub, server.stats().queuedBytes);
    if (stalled.server.closed) after++;
  }
  const outcomes = (await Promise.all(sends)).flat() as Array<{ target: Messenger; ok: boolean; error?: unknown }>;
  sampling.unsubscribe();

  // The stalled reader, and only it, was closed, for the right reason.
  t.is(stalled.server.closeReason?.reason, CloseReasonKind.SlowConsumer);
  t.true(stalled.server.closeReason?.error instanceof QueueFullError);
  t.is((stalled.server.closeReason?.error as QueueFullError).code, ErrorCode.QueueFull);
  t.true(outcomes.some((o) => o.target === stalled.server && !o.ok && o.error instanceof QueueFullError));
  t.true(outcomes.filter((o) => o.target !== stalled.server).every((o) => o.ok), 'every send to a reader succeeded');
  t.deepEqual(
    server.messengers.map((m) => m.id),
    good.map((m) => m.id),
  );
  t.is(server.stats().closes[CloseReasonKind.SlowConsumer], 1);

  // The readers got everything, in order.
  const expected = Array.from({ length: sent }, (_, i) => String(i));
  await waitFor(() => received.every((r) => r.length >= sent), 'every reader to receive every broadcast', 3 * WAIT_MS);
  for (const r of received) t.deepEqual(r, expected);

  // No queue above the limit: on every broadcast, and in every metrics sample.
  t.true(peakConnection <= MAX_QUEUE_BYTES, `a connection's queue peaked at ${peakConnection} bytes`);
  t.true(peakConnection > 0);
  t.true(peakHub <= everyone.length * MAX_QUEUE_BYTES, `the server's queues peaked at ${peakHub} bytes`);
  t.true(hubSamples.length > 0 && stalledSamples.length > 0);
  t.true(hubSamples.every((s) => s.queuedBytes <= everyone.length * MAX_QUEUE_BYTES));
  t.true(stalledSamples.every((s) => s.queuedBytes <= MAX_QUEUE_BYTES));
  t.true(stalledSamples.at(-1)!.closed, 'the per-connection metrics end with the close');

  // The stalled client, reading again, finds its connection gone; what it got came in order.
  stalled.client.socket.resume();
  await next(stalled.client.closed$);
  t.deepEqual(stalledGot, expected.slice(0, stalledGot.length));
});

/** A server, and a raw socket connected to it that never reads; returns the socket's server side. */
async function stalledPeer(t: ExecutionContext, onQueueFull: 'fail' | 'close') {
  const server = await startServer(t, { maxQueueBytes: SMALL_QUEUE_BYTES, onQueueFull });
  const { peer: stalled } = await rawPeer(t, server, { stalled: true });
  return { server, stalled };
}

test("with onQueueFull 'fail', a send that does not failure-close leaves the stalled reader open and fails with queue-full", async (t) => {
  const { server, stalled } = await stalledPeer(t, 'fail');
  const content = Buffer.alloc(2048);
  const frameBytes = frameLength(encodeFrame({ seq: MAX_BROADCASTS }, content));
  const sends: Array<Promise<unknown>> = [];
  for (let i = 0; i < MAX_BROADCASTS && stalled.queuedBytes + frameBytes <= SMALL_QUEUE_BYTES; i++) {
    sends.push(server.send(stalled, { seq: i }, content, { closeOnFail: false }));
    if (i % 8 === 7) await nextTurn(); // let the kernel take what it takes
  }
  const refused = await server.send(stalled, { seq: 'one too many' }, content, { closeOnFail: false });
  t.false(refused.ok);
  t.true(!refused.ok && refused.error instanceof QueueFullError);
  t.false(stalled.closed);
  t.true(stalled.queuedBytes <= SMALL_QUEUE_BYTES);
  t.true(sends.length > 0);
});

test("with onQueueFull 'close', even a send that does not failure-close closes the stalled reader as slow-consumer", async (t) => {
  const { server, stalled } = await stalledPeer(t, 'close');
  const content = Buffer.alloc(2048);
  for (let i = 0; i < MAX_BROADCASTS && !stalled.closed; i++) {
    void server.send(stalled, { seq: i }, content, { closeOnFail: false }).catch(() => {});
    if (i % 8 === 7) await nextTurn();
  }
  const reason = await next(stalled.closed$);
  t.is(reason.reason, CloseReasonKind.SlowConsumer);
  t.true(reason.error instanceof QueueFullError);
  t.is(server.stats().closes[CloseReasonKind.SlowConsumer], 1);
});
