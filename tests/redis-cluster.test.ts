/**
 * `runClusterServer`: worker processes sharing one port through node:cluster, joined through a
 * real redis-server on loopback. The cluster runs in a child process, as a user would run it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import avaTest from 'ava';
import { Client } from '../lib/hub/client.js';
import type { Messenger } from '../lib/connection/messenger.js';
import { next, waitFor, within } from './helpers/loopback.js';
import { useRedis } from './helpers/redis-server.js';
import { find, gate, REDIS } from './helpers/programs.js';

const redisFound = find(REDIS);
const test = gate(avaTest, redisFound);
const redis = await useRedis(redisFound);
test.after.always(() => redis.close());

test('workers of a cluster share one port, each a hub, and a broadcast from any reaches the connections of all', async (t) => {
  t.timeout(60_000);
  const primary = spawn(process.execPath, ['--import', 'tsx', join('tests', 'fixtures', 'redis-cluster.ts'), redis.url, `cl-${randomBytes(4).toString('hex')}`, '2'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    primary.kill('SIGKILL');
  });
  const ready = await within(
    new Promise<string>((resolve, reject) => {
      let out = '';
      primary.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('\n')) resolve(out.trim());
      });
      void exited.then((code) => reject(new Error(`the cluster exited with ${code}: ${out}`)));
    }),
    'the cluster to start',
    30_000,
  );
  const [, port, ...hubIds] = ready.split(' ');
  t.is(hubIds.length, 2);

  const client = new Client();
  t.teardown(() => client.stop({ drainMs: 100 }));
  const links: Messenger[] = [];
  for (let i = 0; i < 4; i++) links.push(await next(client.connect('127.0.0.1', Number(port))));
  // Each connection asks which hub holds it, until every hub has two and sees all four.
  const answers = await Promise.all(
    links.map(async (link) => {
      for (;;) {
        const answer = next(link.messages$);
        await link.send({ who: 1 });
        const { header } = await answer;
        if (header['cluster'] === '4') return header['hub']!;
      }
    }),
  );
  t.deepEqual([...new Set(answers)].sort(), [...hubIds].sort(), 'the primary hands the connections to both workers in turn');

  const heard = links.map(() => [] as string[]);
  links.forEach((link, i) => link.messages$.subscribe(({ header }) => header['said'] !== undefined && heard[i]!.push(header['said'])));
  await links[0]!.send({ say: 'hello' });
  await waitFor(() => heard.every((h) => h.length === 1), 'the broadcast on all four connections');
  t.deepEqual(heard, [['hello'], ['hello'], ['hello'], ['hello']]);

  primary.kill('SIGTERM');
  t.is(await within(exited, 'the cluster to stop'), 0);
});
