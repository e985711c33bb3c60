/**
 * A stalled reader during a broadcast storm, over loopback: the server broadcasts to several
 * clients as fast as the ones that read can take it, while one client has stopped reading. That
 * one is closed as `slow-consumer` once its queue is full; the others get every message in order;
 * and no connection's queue ever holds more than `maxQueueBytes`, sampled on every broadcast and
 * from the metrics streams. Then `onQueueFull` decides what a plain send to a stalled reader does.
 */
import { readFileSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CloseReasonKind } from '../lib/connection/close-reason.js';
import type { Messenger } from '../lib/connection/messenger.js';
import type { ConnectionStats } from '../lib/connection/metrics.js';
import { ErrorCode, HubQueueFullError, QueueFullError } from '../lib/errors.js';
import type { HubStats } from '../lib/hub/hub-stats.js';
import { encodeFrame, frameLength } from '../lib/protocol/index.js';
import { textMessage } from '../lib/text/chat-text.js';
import { WAIT_MS, link, next, rawConnect, rawPeer, startClient, startServer, waitFor } from './helpers/loopback.js';
import { spawnConsole } from './helpers/console-process.js';

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

// Through the server console, as a user would: `rx-tcp-hub server` with the default flags but a
// short write deadline, some clients reading and some stalled, 50,000 lines piped into its stdin.

/** The console lines piped in: each a `broadcast` of about 150 bytes, so that a stalled reader's kernel buffers fill. */
const STORM_LINES = 50_000;
/** The memory the server may grow by (peak RSS minus its RSS once every client is connected). */
const STORM_MAX_GROWTH_BYTES = 64 * 1024 * 1024;
/** How long after the write deadline's 1.25 periods a close may come, on a loaded machine. */
const CLOSE_MARGIN_MS = 5000;

/** The resident memory of a process, from /proc (Linux); undefined elsewhere. */
function residentBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** What a storm client got: how many bytes, and whether they all matched the bytes expected there. */
interface StormReader {
  received: number;
  matched: boolean;
}

/**
 * A raw client of the console's server: says hello (a connection check), then reads, or stops
 * reading. A reader compares what it gets with `expected`, the very bytes of every line's frame in
 * order: all the lines, in order, and nothing else, at the cost of a memcmp (a reader that decoded
 * 50 x 50,000 frames would fall behind the server, and be measured instead of it).
 */
async function stormClient(t: ExecutionContext, port: number, expected: Buffer | undefined): Promise<StormReader> {
  const socket = await rawConnect(t, port);
  const reader: StormReader = { received: 0, matched: true };
  socket.write(Buffer.concat(encodeFrame({ TP: 'Check' })));
  if (expected) {
    socket.on('data', (chunk: Buffer) => {
      if (!chunk.equals(expected.subarray(reader.received, reader.received + chunk.length))) reader.matched = false;
      reader.received += chunk.length;
    });
  } else {
    socket.pause();
  }
  return reader;
}

async function consoleStorm(t: ExecutionContext, counts: { readers: number; stalled: number }, writeTimeoutMs: number): Promise<void> {
  t.timeout(120_000);
  const server = spawnConsole(t, ['server', '--write-timeout', `${writeTimeoutMs}ms`]);
  const port = Number(/:(\d+)$/.exec(await server.line((l) => l.startsWith('listening on ')))![1]);
  const total = counts.readers + counts.stalled;
  const pad = 'x'.repeat(130);
  const lines = Array.from({ length: STORM_LINES }, (_, i) => `line ${String(i).padStart(5, '0')} ${pad}`);
  const expected = Buffer.concat(lines.flatMap((text) => encodeFrame(textMessage(text).header)));
  const readers: StormReader[] = [];
  for (let i = 0; i < counts.readers; i++) readers.push(await stormClient(t, port, expected));
  for (let i = 0; i < counts.stalled; i++) await stormClient(t, port, undefined);
  await server.line((l) => l.startsWith('open ') && l.endsWith(`(${total} alive)`));
  const stalledIds = new Set(server.stdout.filter((l) => l.startsWith('open ')).slice(counts.readers).map((l) => l.split(' ')[1]!));

  const baseline = residentBytes(server.pid);
  let peak = baseline ?? 0;
  const sampling = setInterval(() => (peak = Math.max(peak, residentBytes(server.pid) ?? 0)), 10);
  t.teardown(() => clearInterval(sampling));
  const started = Date.now();
  server.type(lines.map((text) => `broadcast ${text}`).join('\n'));

  // Every stalled reader is closed as slow-consumer by the write deadline ...
  const closedAt = new Map<string, number>();
  while (closedAt.size < counts.stalled) {
    const line = await server.line((l) => l.startsWith('close '), 60_000);
    closedAt.set(line.split(' ')[1]!, Date.now());
    t.regex(line, /: slow-consumer \(connection c\d+: \d+ queued bytes made no progress for \d+ ms \(writeTimeoutMs\)/);
  }
  const byNumber = (ids: Iterable<string>) => [...ids].sort((x, y) => Number(x.slice(1)) - Number(y.slice(1)));
  t.deepEqual(byNumber(closedAt.keys()), byNumber(stalledIds), 'the stalled readers, and only they, were closed');
  // ... while every reader gets every line, in order.
  await waitFor(() => readers.every((r) => r.received >= expected.length || !r.matched), 'every reader to get every line', 60_000);
  const readersDone = Date.now();
  clearInterval(sampling);
  for (const reader of readers) t.deepEqual(reader, { received: expected.length, matched: true });
  const ranAll = () => server.stdout.filter((l) => l.startsWith('broadcast sent to ')).length === STORM_LINES;
  await waitFor(ranAll, 'the console to print every broadcast', 60_000, 50);
  t.true(ranAll(), 'the console ran every command');

  // Closed no sooner than the deadline after the first broadcast, and no later than 1.25 deadlines
  // (plus a margin for a loaded machine) after the last one, past which nothing could move.
  for (const at of closedAt.values()) {
    t.true(at - started >= writeTimeoutMs, `closed ${at - started} ms after the first line`);
    t.true(at <= readersDone + 1.25 * writeTimeoutMs + CLOSE_MARGIN_MS, `closed ${at - readersDone} ms after the readers were done`);
  }
  if (baseline === undefined) {
    t.log('no /proc here: the memory bound is not checked');
  } else {
    const growth = peak - baseline;
    t.log(`server RSS grew ${(growth / 2 ** 20).toFixed(1)} MiB; readers done ${readersDone - started} ms after the first line`);
    t.true(growth < STORM_MAX_GROWTH_BYTES, `the server grew by ${growth} bytes`);
  }
  server.type('quit');
  t.is(await server.exit(), 0);
}

test('through the server console, with one stalled client, 50,000 piped broadcasts reach the reader in order, the stalled one is closed by the write deadline, and the server grows under 64 MB', async (t) => {
  await consoleStorm(t, { readers: 1, stalled: 1 }, 1000);
});

test('through the server console, with 50 stalled and 50 reading clients, 50,000 piped broadcasts reach every reader in order and every stalled one is closed, the server growing under 64 MB', async (t) => {
  await consoleStorm(t, { readers: 50, stalled: 50 }, 250);
});

test('past maxQueuedBytesTotal the hub closes the connection holding the most as slow-consumer, and the others stay', async (t) => {
  const maxQueuedBytesTotal = 1024 * 1024;
  const server = await startServer(t, { maxQueuedBytesTotal, writeTimeoutMs: 0 });
  const reader = await link(server, startClient(t));
  const { peer: stalled } = await rawPeer(t, server, { stalled: true });
  const closed = next(stalled.closed$, 30_000);
  const content = Buffer.alloc(64 * 1024);
  // Bounded: the kernel buffers of a loopback connection hold a few MiB, then the budget is passed.
  for (let seq = 0; seq < 2000 && !stalled.closed; seq++) {
    await server.send(stalled, { seq }, content);
    await server.send(reader.server, { seq }, Buffer.alloc(16));
    if (seq % 8 === 7) await nextTurn();
  }
  const reason = await closed;
  t.is(reason.reason, CloseReasonKind.SlowConsumer);
  t.true(reason.error instanceof HubQueueFullError);
  t.is((reason.error as HubQueueFullError).shedId, stalled.id);
  t.false(reader.server.closed, 'the reader holds little and stays');
  t.true(server.stats().queuedBytes <= maxQueuedBytesTotal);
});
