/**
 * The Redis bridge against a real redis-server on loopback (no mocks): hubs in this process (and
 * one in a child process, to be killed), real TCP clients, every wait bounded.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import avaTest, { type ExecutionContext } from 'ava';
import { filter, firstValueFrom, map } from 'rxjs';
import { Client } from '../lib/hub/client.js';
import type { Messenger } from '../lib/connection/messenger.js';
import { closeOnFailure, relayToOthers, sendEach } from '../lib/hub/operators.js';
import { Server } from '../lib/hub/server.js';
import { RedisBridge, RemoteConnection, clusterIdPrefix, listenBridged, type BridgedOptions, type BridgedServer, type ClusterTarget } from '../lib/redis/index.js';
import { next, waitFor } from './helpers/loopback.js';
import { startRedis, useRedis, type RedisProcess } from './helpers/redis-server.js';
import { find, gate, REDIS, REDIS_SERVER } from './helpers/programs.js';

const redisFound = find(REDIS);
const test = gate(avaTest, redisFound);
const shared = await useRedis(redisFound);
/** For the tests that stop and start a server of their own: a redis-server on PATH, not REDIS_URL's. */
const ownServer = redisFound.kind === 'missing' ? redisFound : find(REDIS_SERVER);
const outageTest = gate(test, ownServer);
const startOwnRedis = () => startRedis(ownServer.kind === 'executable' ? ownServer.path : undefined);
test.after.always(() => shared.close());

/** A namespace of its own for each test, so tests that run at once do not see each other's hubs. */
function namespace(): string {
  return `test-${randomBytes(4).toString('hex')}`;
}

async function startHub(t: ExecutionContext, redis: RedisProcess, options: BridgedOptions): Promise<BridgedServer> {
  const hub = await listenBridged({ host: '127.0.0.1', port: 0 }, { url: redis.url, heartbeatMs: 100, maxRetryDelayMs: 100, ...options });
  t.teardown(async () => {
    await hub.server.stop({ drainMs: 100 });
    await hub.bridge.close();
  });
  return hub;
}

/** `n` clients of one client hub connected to the server; their Messengers (client side). */
async function connectClients(t: ExecutionContext, { server }: BridgedServer, n: number): Promise<Messenger[]> {
  const client = new Client();
  t.teardown(() => client.stop({ drainMs: 100 }));
  const links: Messenger[] = [];
  for (let i = 0; i < n; i++) links.push(await next(client.connect('127.0.0.1', server.address.port)));
  await waitFor(() => server.messengers.length >= n, `${n} connections on ${server.address.port}`);
  return links;
}

/** Collects what a connection receives, as `header.from/header.n` strings. */
function record(messenger: Messenger): string[] {
  const got: string[] = [];
  messenger.messages$.subscribe(({ header }) => got.push(`${header['from']}/${header['n']}`));
  return got;
}

async function clusterOf(hubs: readonly BridgedServer[], total: number): Promise<void> {
  await waitFor(() => hubs.every(({ bridge }) => bridge.connections.length === total), `${total} connections in every hub's view`);
}

test('a broadcast on any of three bridged hubs reaches every connection of every hub once, in the order each hub sent it', async (t) => {
  const ns = namespace();
  const hubs = [await startHub(t, shared, { namespace: ns }), await startHub(t, shared, { namespace: ns }), await startHub(t, shared, { namespace: ns })];
  const clients = (await Promise.all(hubs.map((hub) => connectClients(t, hub, 2)))).flat();
  await clusterOf(hubs, 6);
  const logs = clients.map(record);
  const N = 25;
  for (let n = 1; n <= N; n++) {
    for (const { bridge } of hubs) void bridge.broadcast({ from: bridge.hubId, n });
  }
  await waitFor(() => logs.every((log) => log.length >= 3 * N), 'every broadcast on every connection');
  // A last broadcast from each hub: what a connection got before it is all it will get of that hub.
  for (const { bridge } of hubs) void bridge.broadcast({ from: bridge.hubId, n: 'end' });
  await waitFor(() => logs.every((log) => log.filter((line) => line.endsWith('/end')).length === 3), 'the end markers');
  for (const log of logs) {
    t.is(log.length, 3 * (N + 1));
    for (const { bridge } of hubs) {
      const mine = log.filter((line) => line.startsWith(`${bridge.hubId}/`));
      t.deepEqual(mine, [...Array.from({ length: N }, (_, i) => `${bridge.hubId}/${i + 1}`), `${bridge.hubId}/end`]);
    }
  }
  for (const { bridge } of hubs) t.is(bridge.stats().duplicates, 0);
});

test('a multicast and a send reach the named connections on other hubs, and a broadcast outcome says which part went through Redis', async (t) => {
  const ns = namespace();
  const a = await startHub(t, shared, { namespace: ns });
  const b = await startHub(t, shared, { namespace: ns });
  const [a1, a2] = await connectClients(t, a, 2);
  const [b1, b2] = await connectClients(t, b, 2);
  await clusterOf([a, b], 4);
  const [onA1, onA2, onB1, onB2] = [a1!, a2!, b1!, b2!].map(record);
  const [idA1] = a.server.messengers.map((m) => m.id);
  const [idB1, idB2] = b.server.messengers.map((m) => m.id);
  t.true(idB1!.startsWith(`${b.bridge.hubId}.`), 'ids carry their hub id');

  const multicast = await a.bridge.multicast([idA1!, idB2!], { from: 'a', n: 1 });
  t.deepEqual(multicast.local.map((o) => o.ok), [true]);
  t.is(multicast.remote, 'published');
  await b.bridge.send(idA1!, { from: 'b', n: 2 });
  await waitFor(() => onB2!.length === 1 && onA1!.length === 2, 'the multicast and the send');
  t.deepEqual(onA1, ['a/1', 'b/2']);
  t.deepEqual(onB2, ['a/1']);
  t.deepEqual(onA2, []);
  t.deepEqual(onB1, []);

  const none = await a.bridge.broadcast({ from: 'a', n: 3 });
  t.is(none.local.length, 2);
  t.is(none.remote, 'published');
  await t.throwsAsync(a.bridge.multicast(['no-hub-id'], { n: 4 }), { code: 'ERR_UNKNOWN_CONNECTION' });
});

test('connections of other hubs are targets like local ones: the relay chain of the operators runs on the whole cluster', async (t) => {
  const ns = namespace();
  const a = await startHub(t, shared, { namespace: ns, shareIncoming: true });
  const b = await startHub(t, shared, { namespace: ns, shareIncoming: true });
  const [a1] = await connectClients(t, a, 1);
  const [b1, b2] = await connectClients(t, b, 2);
  await clusterOf([a, b], 3);
  t.true(a.bridge.targets.some((target) => target instanceof RemoteConnection));
  // Each hub relays what any connection of the cluster says to its own connections but the sender.
  for (const { server, bridge } of [a, b]) {
    const sub = bridge.incoming$.pipe(relayToOthers<ClusterTarget>(() => server.messengers), sendEach(), closeOnFailure()).subscribe();
    t.teardown(() => sub.unsubscribe());
  }
  const [onA1, onB1, onB2] = [a1!, b1!, b2!].map(record);
  const remote = firstValueFrom(b.bridge.remoteIncoming$.pipe(map(({ from }) => from)));
  await a1!.send({ from: 'a1', n: 1 });
  await waitFor(() => onB1!.length === 1 && onB2!.length === 1, 'the relay on hub b');
  const sender = await remote;
  t.true(sender instanceof RemoteConnection);
  t.is(sender.hubId, a.bridge.hubId);
  await b1!.send({ from: 'b1', n: 2 });
  await waitFor(() => onA1!.length === 1 && onB2!.length === 2, 'the relay of b1 on both hubs');
  t.deepEqual(onA1, ['b1/2']);
  t.deepEqual(onB1, ['a1/1']);
  t.deepEqual(onB2, ['a1/1', 'b1/2']);
});

test('every hub lists the connections of all, and those of a hub killed without any cleanup leave once its presence expires', async (t) => {
  const ns = namespace();
  const ttl = 600;
  const a = await startHub(t, shared, { namespace: ns, presenceTtlMs: ttl, heartbeatMs: 100 });
  const b = await startHub(t, shared, { namespace: ns, presenceTtlMs: ttl, heartbeatMs: 100 });
  await connectClients(t, a, 1);
  await connectClients(t, b, 2);
  await clusterOf([a, b], 3);
  const events: string[] = [];
  const sub = a.bridge.clusterConnections$.subscribe((e) => events.push(`${e.type} ${e.connection.id}${e.type === 'close' ? ` ${e.reason}` : ''}`));
  t.teardown(() => sub.unsubscribe());
  t.deepEqual(events.sort(), [...a.server.messengers, ...b.server.messengers].map((m) => `open ${m.id}`).sort(), 'a replay of the cluster on subscribe');

  const child = spawn(process.execPath, ['--import', 'tsx', join('tests', 'fixtures', 'redis-hub.ts'), shared.url, ns, 'doomed', String(ttl)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`the child hub exited with ${code}: ${out}`)));
  });
  const [, ...rest] = line.split(' ');
  const doomed = rest.slice(0, 2);
  await clusterOf([a, b], 5);
  t.deepEqual(
    b.bridge.connections.filter((c) => c.hubId === 'doomed').map((c) => c.id).sort(),
    [...doomed].sort(),
  );

  child.kill('SIGKILL');
  await waitFor(() => a.bridge.connections.length === 3 && b.bridge.connections.length === 3, "the killed hub's connections to expire");
  for (const id of doomed) t.true(events.includes(`close ${id} expired`), id);
});

test('a stopped hub leaves the view of the others at once', async (t) => {
  const ns = namespace();
  const a = await startHub(t, shared, { namespace: ns, presenceTtlMs: 60_000 });
  const b = await startHub(t, shared, { namespace: ns, presenceTtlMs: 60_000 });
  await connectClients(t, b, 2);
  await clusterOf([a, b], 2);
  const closed = firstValueFrom(a.bridge.clusterConnections$.pipe(filter((e) => e.type === 'close')));
  await b.server.stop({ drainMs: 100 });
  t.is((await closed).type, 'close');
  await waitFor(() => a.bridge.connections.length === 0, 'an empty view');
  t.is(b.bridge.state, 'closed');
});

outageTest('while Redis is down local delivery goes on and cross-hub messages wait; once it is back the bridges reconnect, resync presence and deliver what waited', async (t) => {
  const redis = await startOwnRedis();
  t.teardown(() => redis.close());
  const ns = namespace();
  const a = await startHub(t, redis, { namespace: ns, outboxMessages: 5 });
  const b = await startHub(t, redis, { namespace: ns, outboxMessages: 5 });
  const [a1] = await connectClients(t, a, 1);
  const [b1] = await connectClients(t, b, 1);
  await clusterOf([a, b], 2);
  const [onA1, onB1] = [a1!, b1!].map(record);

  await redis.stop();
  await waitFor(() => a.bridge.state === 'offline' && b.bridge.state === 'offline', 'both bridges offline');
  const outcomes = [];
  for (let n = 1; n <= 7; n++) outcomes.push(await a.bridge.broadcast({ from: 'a', n }));
  t.true(outcomes.every((o) => o.local.length === 1 && o.local[0]!.ok), 'local delivery goes on');
  t.deepEqual(outcomes.map((o) => o.remote), ['queued', 'queued', 'queued', 'queued', 'queued', 'dropped', 'dropped']);
  await waitFor(() => onA1!.length === 7, 'the local deliveries');
  t.like(a.bridge.stats(), { queued: 5, overflow: 2 });
  t.is(a.bridge.connections.length, 2, 'the view is kept through the outage');

  await redis.start();
  await Promise.all([a.bridge.online(), b.bridge.online()]);
  await waitFor(() => onB1!.length === 5, 'what waited, on the other hub');
  t.deepEqual(onB1, ['a/1', 'a/2', 'a/3', 'a/4', 'a/5']);
  t.true(a.bridge.stats().reconnects >= 1);
  // Presence was written again into the empty Redis: a third hub sees both hubs' connections.
  const c = await startHub(t, redis, { namespace: ns });
  await waitFor(() => c.bridge.connections.length === 2, 'the resynced presence');
  await a.bridge.broadcast({ from: 'a', n: 8 });
  await waitFor(() => onB1!.length === 6, 'a broadcast after the outage');
  t.is(onB1!.at(-1), 'a/8');
});

outageTest('a bridge started while Redis is down goes online by itself once Redis is up', async (t) => {
  const redis = await startOwnRedis();
  t.teardown(() => redis.close());
  await redis.stop();
  const ns = namespace();
  const server = await Server.listen({ host: '127.0.0.1', port: 0, idPrefix: clusterIdPrefix('early') });
  t.teardown(() => server.stop({ drainMs: 100 }));
  const bridge = new RedisBridge(server, { hubId: 'early', url: redis.url, namespace: ns, maxRetryDelayMs: 50 });
  t.is(bridge.state, 'connecting');
  await t.throwsAsync(RedisBridge.connect(server, { hubId: 'other', url: redis.url, namespace: ns, timeoutMs: 200 }), { message: /not online within 200 ms/ });
  await redis.start();
  await bridge.online();
  t.is(bridge.state, 'online');
  t.throws(() => new RedisBridge(server, { hubId: 'no.dots', url: redis.url }), { code: 'ERR_INVALID_OPTION' });
});
