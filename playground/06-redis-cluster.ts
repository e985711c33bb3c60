// Run: npx tsx playground/06-redis-cluster.ts
//
// Two hubs joined through Redis (`rx-tcp-hub/redis`), as two processes or machines would be: a
// broadcast and a multicast that reach clients on both, one cluster-wide list of connections, and a
// chat relay built from the same operators as on one hub. Uses REDIS_URL when set; otherwise it
// starts a throwaway `redis-server` (the Debian package) on a free loopback port.
import { filter } from 'rxjs';
import { Client, closeOnFailure, relayToOthers, sendEach, type Messenger } from '../lib/index.js';
import { listenBridged, type BridgedServer, type ClusterTarget } from '../lib/redis/index.js';
import { startRedis, type RedisProcess } from '../tests/helpers/redis-server.js';
import { WAIT_MS, cell, nextMessage, say, showHeader } from './helpers.js';

/** Waits until the condition holds, for what no event announces; fails the script after WAIT_MS. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + WAIT_MS; !condition(); await new Promise((resolve) => setTimeout(resolve, 10))) {
    if (Date.now() > deadline) throw new Error(`waited ${WAIT_MS} ms for ${what}`);
  }
}

let redis: RedisProcess | undefined;
let url = process.env['REDIS_URL'];
if (!url) {
  try {
    redis = await startRedis();
    url = redis.url;
  } catch (error) {
    console.log('This script needs Redis: set REDIS_URL, or install redis-server (apt-get install redis-server).');
    console.log(`(starting redis-server failed: ${(error as Error).message})`);
    console.log('Nothing else to show without it.');
    console.log('See "Scaling out with Redis" in the README.');
    console.log('Bye.');
    process.exit(0);
  }
}

// %% Two hubs, as two processes would start them. Each gets a hub id, which prefixes its
// connection ids, so that an id names one connection in the whole cluster.
cell('1. Two hubs, one cluster');
const namespace = `playground-${process.pid}`;
const options = { url, namespace, shareIncoming: true, heartbeatMs: 200 };
const east = await listenBridged({ host: '127.0.0.1', port: 0 }, { ...options, hubId: 'east' });
const west = await listenBridged({ host: '127.0.0.1', port: 0 }, { ...options, hubId: 'west' });
say('east', `listening on ${east.server.address.port}, bridge ${east.bridge.state}`);
say('west', `listening on ${west.server.address.port}, bridge ${west.bridge.state}`);

// %% Clients: alice on east, bob and carol on west. Each hub soon lists all three.
cell('2. Clients on both hubs, and the cluster-wide list');
const client = new Client();
const dial = async (hub: BridgedServer, name: string): Promise<Messenger> => {
  const link = await new Promise<Messenger>((resolve, reject) => client.connect('127.0.0.1', hub.server.address.port).subscribe({ next: resolve, error: reject }));
  await link.send({ join: name });
  return link;
};
const alice = await dial(east, 'alice');
const bob = await dial(west, 'bob');
const carol = await dial(west, 'carol');
await until(() => east.bridge.connections.length === 3 && west.bridge.connections.length === 3, 'three connections in both views');
for (const hub of [east, west]) {
  say(hub.bridge.hubId, hub.bridge.connections.map((c) => `${c.id}${c.local ? '' : ` (on ${c.hubId})`}`).join(', '));
}

// %% A broadcast on east reaches the clients of both hubs: east writes to alice itself and sends
// one envelope through Redis, which west writes to bob and carol.
cell('3. A broadcast from east');
const outcome = await east.bridge.broadcast({ info: 'hello-cluster' });
say('east', `local outcomes: ${outcome.local.map((o) => `${o.target.id} ${o.ok ? 'ok' : 'failed'}`).join(', ')}; remote: ${outcome.remote}`);
for (const [name, link] of [['alice', alice], ['bob', bob], ['carol', carol]] as const) say(name, showHeader((await nextMessage(link)).header));

// %% A multicast names connections wherever they are; west's ids route through Redis.
cell('4. A multicast from east to alice and carol');
const carolId = west.server.messengers[1]!.id;
await east.bridge.multicast([east.server.messengers[0]!.id, carolId], { info: 'just-you-two' });
say('alice', showHeader((await nextMessage(alice)).header));
say('carol', showHeader((await nextMessage(carol)).header));

// %% The chat relay of 02-chat-relay.ts, on the cluster: with `shareIncoming`, each hub's
// `bridge.incoming$` carries what any connection of the cluster says, and the same operators
// relay it to the hub's own connections but the sender.
cell('5. A chat relay across both hubs');
for (const { server, bridge } of [east, west]) {
  bridge.incoming$
    .pipe(
      filter(({ header }) => header['info'] !== undefined),
      relayToOthers<ClusterTarget>(() => server.messengers, ({ header, from }) => ({ header: { from: from.id, info: header['info']! } })),
      sendEach(),
      closeOnFailure(),
    )
    .subscribe();
}
await alice.send({ info: 'hi-from-east' });
say('bob', showHeader((await nextMessage(bob)).header));
say('carol', showHeader((await nextMessage(carol)).header));

// %% A hub that stops leaves the others' view at once (one that crashes, after `presenceTtlMs`).
cell('6. West stops');
const westId = west.bridge.hubId;
await west.server.stop({ drainMs: 200 });
await until(() => !east.bridge.connections.some((c) => c.hubId === westId), "west's connections to leave east's view");
say('east', `cluster now: ${east.bridge.connections.map((c) => c.id).join(', ')}`);
const { published, received, overflow } = east.bridge.stats();
say('east', `bridge stats: published ${published}, received ${received}, overflow ${overflow}`);

await client.stop({ drainMs: 200 });
await east.server.stop({ drainMs: 200 });
await redis?.close();
say('all', 'stopped');
