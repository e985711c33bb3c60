/**
 * Trackers sharing one peer table through a real redis-server on loopback: real trackers, peers
 * that report over TCP as the seed's peer does, every wait bounded.
 */
import { randomBytes } from 'node:crypto';
import avaTest, { type ExecutionContext } from 'ava';
import { filter, map } from 'rxjs';
import { Client } from '../lib/hub/client.js';
import type { Messenger } from '../lib/connection/messenger.js';
import { Tracker } from '../lib/filer/tracker.js';
import { decodePeerList, isBroadcast, reportHeader } from '../lib/filer/vocabulary.js';
import { RedisPeerTable, type RedisPeerTableOptions } from '../lib/redis/index.js';
import { next, waitFor } from './helpers/loopback.js';
import { useRedis } from './helpers/redis-server.js';
import { find, gate, REDIS } from './helpers/programs.js';

const redisFound = find(REDIS);
const test = gate(avaTest, redisFound);
const redis = await useRedis(redisFound);
test.after.always(() => redis.close());

const TIMING = { intervalMs: 50, expireMs: 400 };

async function startTracker(t: ExecutionContext, options: RedisPeerTableOptions): Promise<{ tracker: Tracker; shared: RedisPeerTable }> {
  const shared = await RedisPeerTable.connect({ url: redis.url, expireMs: TIMING.expireMs, refreshMs: TIMING.intervalMs, ...options });
  const tracker = await Tracker.listen({ host: '127.0.0.1', port: 0, ...TIMING, shared });
  t.teardown(async () => {
    await tracker.stop();
    await shared.close();
  });
  return { tracker, shared };
}

/** A peer that reports `{ID, Port}` to a tracker every interval, and keeps the latest list it was sent. */
async function reportingPeer(t: ExecutionContext, tracker: Tracker, id: string, port: number) {
  const client = new Client();
  t.teardown(() => client.stop({ drainMs: 100 }));
  const link: Messenger = await next(client.connect('127.0.0.1', tracker.server!.address.port));
  const state = { listed: [] as string[], reporting: true };
  link.messages$
    .pipe(
      filter(isBroadcast),
      map(({ content }) => decodePeerList(content).entries.map((e) => `${e.id}:${e.port}`)),
    )
    .subscribe((listed) => (state.listed = listed));
  const timer = setInterval(() => {
    if (state.reporting) void link.send(reportHeader(id, port)).catch(() => {});
  }, TIMING.intervalMs);
  t.teardown(() => clearInterval(timer));
  void link.send(reportHeader(id, port));
  return state;
}

/** Two trackers sharing a table of their own; alice reports to the first, bob to the second. */
async function twoTrackers(t: ExecutionContext) {
  const namespace = `peers-${randomBytes(4).toString('hex')}`;
  const one = await startTracker(t, { namespace });
  const two = await startTracker(t, { namespace });
  const alice = await reportingPeer(t, one.tracker, 'alice', 41001);
  const bob = await reportingPeer(t, two.tracker, 'bob', 41002);
  return { one, two, alice, bob };
}

test('a peer that reports to either of two trackers is listed by both', async (t) => {
  const { one, two, alice, bob } = await twoTrackers(t);
  await waitFor(() => alice.listed.length === 2 && bob.listed.length === 2, 'both peers in both broadcasts');
  t.deepEqual(alice.listed, ['alice:41001', 'bob:41002'], "a tracker lists its own peers first, then the table's others");
  t.deepEqual(bob.listed, ['bob:41002', 'alice:41001']);
  t.deepEqual(one.tracker.peers.map((p) => p.id), ['alice'], "a tracker's own table keeps its own peers");
  t.deepEqual((await two.shared.refresh()).map((p) => p.id), ['alice', 'bob'], 'the shared table lists peers in the order they joined');
});

test('a peer that stops reporting leaves the table of every tracker once its entry expires, and one that disconnects leaves it at once', async (t) => {
  const { one, two, alice, bob } = await twoTrackers(t);
  const carol = await reportingPeer(t, two.tracker, 'carol', 41003);
  await waitFor(() => alice.listed.length === 3 && bob.listed.length === 3, 'all three peers in the broadcasts');

  carol.reporting = false; // still connected to tracker two, silent
  await waitFor(() => alice.listed.length === 2 && bob.listed.length === 2, "carol's entry to expire");
  t.deepEqual(alice.listed, ['alice:41001', 'bob:41002']);
  t.deepEqual(bob.listed, ['bob:41002', 'alice:41001']);

  await one.tracker.stop(); // alice's connection closes: tracker one removes the entry it wrote
  await waitFor(() => bob.listed.length === 1, "alice's entry to go");
  t.deepEqual(bob.listed, ['bob:41002']);
});

test('a close removes an entry only when the tracker that saw the close wrote it', async (t) => {
  const namespace = `peers-${randomBytes(4).toString('hex')}`;
  const a = await RedisPeerTable.connect({ url: redis.url, namespace, trackerId: 'a', refreshMs: 10_000 });
  const b = await RedisPeerTable.connect({ url: redis.url, namespace, trackerId: 'b', refreshMs: 10_000 });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  // Each table's commands run in order on its own connection: a refresh returns once its writes are done.
  a.report({ id: 'alice', host: '10.0.0.1', port: 41001 });
  await a.refresh();
  b.report({ id: 'alice', host: '10.0.0.2', port: 41001 }); // alice moved to tracker b
  await b.refresh();
  a.remove('alice');
  await a.refresh();
  t.deepEqual(await b.refresh(), [{ id: 'alice', host: '10.0.0.2', port: 41001 }]);
  b.remove('alice');
  await b.refresh();
  t.deepEqual(await a.refresh(), []);
});
