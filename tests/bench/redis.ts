/**
 * npm run bench:redis [-- --quick] [-- --connections 20] [-- --messages 4000] [-- --rounds 5]
 *
 * Broadcast deliveries per second on one hub alone, next to two hubs bridged through Redis, in the
 * same run: the hubs run in this process, the clients in one child process, `connections` in all
 * (split evenly between the hubs when there are two); hub 1 broadcasts `messages` small messages,
 * in windows of 100 whose local writes it awaits. A round is timed from the first broadcast to the
 * last delivery on any connection; every connection checks its own order. The rounds of the two
 * set-ups alternate. Uses REDIS_URL when set, else starts a throwaway redis-server.
 * `--json PATH` also writes the figures there (`npm run bench` runs this script that way).
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client } from '../../lib/hub/client.js';
import { Server } from '../../lib/hub/server.js';
import { listenBridged, type BridgedServer } from '../../lib/redis/index.js';
import { startRedis, type RedisProcess } from '../helpers/redis-server.js';

interface Setup {
  readonly name: string;
  /** What to tell when a round fails. */
  describe(): string;
  readonly ports: number[];
  /** Resolves once every hub holds `perPort` live connections (a client's connect resolves first). */
  whenConnected(perPort: number): Promise<void>;
  broadcast(header: { n: number }, content: Buffer): Promise<unknown>;
  close(): Promise<void>;
}

type ToClients = { cmd: 'connect'; ports: number[]; perPort: number } | { cmd: 'arm'; total: number };
type FromClients = { cmd: 'connected' } | { cmd: 'armed' } | { cmd: 'done'; errors: number; missing: number };

const WINDOW = 100;
const CONTENT = Buffer.alloc(64, 7);

if (process.argv[2] === '--clients') await clientProcess();
else await main();

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: number) => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? Number(args[at + 1]) : fallback;
  };
  const quick = args.includes('--quick');
  const connections = flag('connections', 20);
  const messages = flag('messages', quick ? 1000 : 4000);
  const rounds = flag('rounds', quick ? 2 : 5);

  let redis: RedisProcess | undefined;
  const url = process.env['REDIS_URL'] ?? (redis = await startRedis()).url;
  const setups = [await alone(), await bridged(url)];
  const rates = new Map<string, number[]>(setups.map((s) => [s.name, []]));
  const children = new Map<string, Awaited<ReturnType<typeof clients>>>();
  for (const setup of setups) {
    children.set(setup.name, await clients(setup.ports, connections / setup.ports.length));
    await setup.whenConnected(connections / setup.ports.length);
  }

  console.error(`bench:redis: ${connections} connections, ${messages} broadcasts of ${CONTENT.length} content bytes, ${rounds} rounds (+1 warm-up)`);
  for (let r = 0; r <= rounds; r++) {
    for (let i = 0; i < setups.length; i++) {
      const setup = setups[(r + i) % setups.length]!;
      const child = children.get(setup.name)!;
      // Armed before the first broadcast: deliveries and IPC messages travel apart.
      const { done } = await child.arm(messages * connections);
      const t0 = performance.now();
      for (let n = 0; n < messages; n += WINDOW) {
        const batch: Promise<unknown>[] = [];
        for (let k = n; k < Math.min(messages, n + WINDOW); k++) batch.push(setup.broadcast({ n: k }, CONTENT));
        await Promise.all(batch);
      }
      const { errors, missing } = await done;
      const seconds = (performance.now() - t0) / 1000;
      if (errors > 0 || missing > 0) throw new Error(`${setup.name}: ${errors} deliveries out of order, ${missing} missing; ${setup.describe()}`);
      if (r > 0) rates.get(setup.name)!.push((messages * connections) / seconds);
    }
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = median(rates.get(setups[0]!.name)!);
  console.log(`\nbroadcast across hubs bridged through Redis: ${connections} connections, ${CONTENT.length}-byte content, deliveries/s (median [min, max] of ${rounds} rounds)\n`);
  console.log(`| set-up | deliveries/s | × one hub |\n| --- | ---: | ---: |`);
  const figures = [...rates].map(([name, xs]) => ({ name, median: median(xs), min: Math.min(...xs), max: Math.max(...xs), ratio: median(xs) / base }));
  for (const f of figures) console.log(`| ${f.name} | ${f.median.toFixed(0)} [${f.min.toFixed(0)}, ${f.max.toFixed(0)}] | ${f.ratio.toFixed(2)} |`);
  const jsonAt = args.indexOf('--json');
  if (jsonAt >= 0) writeFileSync(args[jsonAt + 1]!, JSON.stringify({ connections, messages, rounds, contentBytes: CONTENT.length, setups: figures }, null, 2) + '\n');
  for (const child of children.values()) child.kill();
  for (const setup of setups) await setup.close();
  await redis?.close();
}

async function alone(): Promise<Setup> {
  const server = await Server.listen({ host: '127.0.0.1', port: 0 });
  return {
    name: 'one hub',
    describe: () => JSON.stringify(server.stats().closes),
    ports: [server.address.port],
    whenConnected: (perPort) => untilLive([server], perPort),
    broadcast: (header, content) => server.broadcast(header, content),
    close: () => server.stop({ drainMs: 100 }),
  };
}

async function bridged(url: string): Promise<Setup> {
  const namespace = `bench-${process.pid}`;
  const hubs: BridgedServer[] = [];
  for (const hubId of ['bench1', 'bench2']) hubs.push(await listenBridged({ host: '127.0.0.1', port: 0 }, { url, namespace, hubId }));
  return {
    name: '2 hubs via Redis',
    describe: () => JSON.stringify(hubs.map(({ server, bridge }) => ({ closes: server.stats().closes, bridge: bridge.stats() }))),
    ports: hubs.map((h) => h.server.address.port),
    whenConnected: (perPort) => untilLive(hubs.map((h) => h.server), perPort),
    broadcast: (header, content) => hubs[0]!.bridge.broadcast(header, content),
    close: async () => {
      for (const { server } of hubs) await server.stop({ drainMs: 100 });
    },
  };
}

/** Waits (10 s at most) until each server holds `count` live connections. */
async function untilLive(servers: Server[], count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (servers.some((server) => server.messengers.length < count)) {
    if (Date.now() > deadline) throw new Error(`connections not live within 10 s: ${servers.map((s) => s.messengers.length).join(', ')} of ${count} each`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A child process holding `perPort` client connections to each port. */
async function clients(ports: number[], perPort: number) {
  const child = fork(fileURLToPath(import.meta.url), ['--clients'], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const reply = () => new Promise<FromClients>((resolve) => child.once('message', (m) => resolve(m as FromClients)));
  const connected = reply();
  child.send({ cmd: 'connect', ports, perPort } satisfies ToClients);
  await connected;
  return {
    /** Resolves once the child counts from zero, with the promise of the round's end. */
    async arm(total: number): Promise<{ done: Promise<{ errors: number; missing: number }> }> {
      const armed = reply();
      child.send({ cmd: 'arm', total } satisfies ToClients);
      await armed;
      return { done: reply() as Promise<{ cmd: 'done'; errors: number; missing: number }> };
    },
    kill: () => child.kill(),
  };
}

/** The child: connects, then counts deliveries and checks each connection's order. */
async function clientProcess(): Promise<void> {
  const client = new Client();
  let expected = 0;
  let got = 0;
  let errors = 0;
  const next = new Map<string, number>();
  /** Ends a round that stopped making progress, so that a lost delivery fails the run instead of hanging it. */
  let stall: NodeJS.Timeout | undefined;
  const finish = () => {
    clearTimeout(stall);
    process.send!({ cmd: 'done', errors, missing: expected - got } satisfies FromClients);
  };
  const progress = () => {
    clearTimeout(stall);
    stall = setTimeout(finish, 10_000);
  };
  process.on('message', async (message: ToClients) => {
    if (message.cmd === 'connect') {
      for (const port of message.ports) {
        for (let i = 0; i < message.perPort; i++) {
          const link = await new Promise<import('../../lib/index.js').Messenger>((resolve, reject) =>
            client.connect('127.0.0.1', port).subscribe({ next: resolve, error: reject }),
          );
          const key = `${port}/${i}`;
          link.messages$.subscribe(({ header }) => {
            const n = Number(header['n']);
            if (n !== (next.get(key) ?? 0)) errors++;
            next.set(key, n + 1);
            if (++got === expected) finish();
            else if (got % 1000 === 0) progress();
          });
        }
      }
      process.send!({ cmd: 'connected' } satisfies FromClients);
    } else {
      got = 0;
      errors = 0;
      next.clear();
      expected = message.total;
      progress();
      process.send!({ cmd: 'armed' } satisfies FromClients);
    }
  });
  process.on('disconnect', () => void client.stop().then(() => process.exit(0)));
}
