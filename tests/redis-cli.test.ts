/**
 * `--workers N --redis URL` of the `server` and `tracker` subcommands: the flags, then the scaled-out
 * subcommands run as `rx-tcp-hub` runs them, against a real redis-server on loopback.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import avaTest, { type ExecutionContext } from 'ava';
import { filter, firstValueFrom, map } from 'rxjs';
import { Client } from '../lib/hub/client.js';
import type { Messenger } from '../lib/connection/messenger.js';
import { decodePeerList, isBroadcast, reportHeader } from '../lib/filer/vocabulary.js';
import { sharedSecret } from '../lib/filer/secret.js';
import { takeScaleFlags } from '../lib/redis/cli-flags.js';
import { makeCertificates } from './helpers/certificates.js';
import { next, waitFor, within } from './helpers/loopback.js';
import { tempDir } from './helpers/transfer.js';
import { useRedis } from './helpers/redis-server.js';
import { find, gate, OPENSSL, REDIS } from './helpers/programs.js';

const redisFound = find(REDIS);
const test = gate(avaTest, redisFound);
const redis = await useRedis(redisFound);
const tlsTest = gate(test, find(OPENSSL));
test.after.always(() => redis.close());

/** `rx-tcp-hub <args>` in a child process, killed in teardown: its stdout so far, and its exit. */
function cli(t: ExecutionContext, args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', join('lib', 'cli', 'main.ts'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const run = { out: '', exited, stop: () => child.kill('SIGTERM') };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (run.out += chunk));
  return run;
}

/** The port the primary prints once every worker listens. */
async function listeningPort(run: { out: string }, workers: number): Promise<number> {
  await waitFor(() => run.out.includes('listening'), 'the workers to listen', 30_000, 10);
  const [, port] = /listening 127\.0\.0\.1:(\d+), (\d+) worker\(s\)/.exec(run.out) ?? [];
  if (!run.out.includes(`, ${workers} worker(s)`)) throw new Error(`expected ${workers} workers:\n${run.out}`);
  return Number(port);
}

avaTest('the scale flags are taken out of the arguments, and the rest is left for the subcommand', (t) => {
  t.deepEqual(takeScaleFlags(['--port', '5000', '--workers', '4', '--redis', 'redis://127.0.0.1:6379', '--json']), {
    scale: { workers: 4, redis: 'redis://127.0.0.1:6379' },
    rest: ['--port', '5000', '--json'],
  });
  t.deepEqual(takeScaleFlags(['--redis=redis://10.0.0.5:6379']), { scale: { workers: 1, redis: 'redis://10.0.0.5:6379' }, rest: [] });
  t.deepEqual(takeScaleFlags(['--port', '5000']), { scale: undefined, rest: ['--port', '5000'] });
});

avaTest('a scale flag without what it needs is refused with a message naming the flag', (t) => {
  t.throws(() => takeScaleFlags(['--workers', '4']), { message: '--workers: needs --redis URL, which joins the workers' });
  t.throws(() => takeScaleFlags(['--workers', 'many', '--redis', 'redis://h:1']), { message: /^--workers: expected a whole number/ });
  t.throws(() => takeScaleFlags(['--workers', '0', '--redis', 'redis://h:1']), { message: /^--workers: expected a whole number/ });
  t.throws(() => takeScaleFlags(['--redis', 'http://h:1']), { message: /^--redis: expected a redis:\/\/ or rediss:\/\/ URL/ });
  t.throws(() => takeScaleFlags(['--redis']), { message: '--redis: expected a value' });
});

test('a server scaled out to two workers on one port prints the connections and messages of each', async (t) => {
  t.timeout(60_000);
  const run = cli(t, ['server', '--port', '0', '--workers', '2', '--redis', redis.url]);
  const port = await listeningPort(run, 2);
  const client = new Client();
  t.teardown(() => client.stop({ drainMs: 100 }));
  for (let i = 0; i < 2; i++) await (await next(client.connect('127.0.0.1', port))).send({ info: `hello${i}` });
  await waitFor(() => (run.out.match(/: \{info: hello\d\}/g) ?? []).length === 2, 'both messages printed');
  const hubs = new Set([...run.out.matchAll(/^\[(h[0-9a-f]{8})\] open /gm)].map((m) => m[1]));
  t.is(hubs.size, 2, `each worker took one connection:\n${run.out}`);
  run.stop();
  t.is(await within(run.exited, 'the workers to stop'), 0);
});

test('a tracker scaled out to two workers on one port lists the peers that report to either', async (t) => {
  t.timeout(60_000);
  const run = cli(t, ['tracker', '--port', '0', '--interval', '50ms', '--expire', '2s', '--workers', '2', '--redis', redis.url]);
  const port = await listeningPort(run, 2);
  const names = ['alice', 'bob', 'carol', 'dave'];
  const client = new Client();
  t.teardown(() => client.stop({ drainMs: 100 }));
  const lists: string[][] = names.map(() => []);
  const peers: Messenger[] = [];
  for (const [i, name] of names.entries()) {
    const link = await next(client.connect('127.0.0.1', port));
    link.messages$.pipe(filter(isBroadcast), map(({ content }) => decodePeerList(content).entries.map((e) => e.id).sort())).subscribe((ids) => (lists[i] = ids));
    await link.send(reportHeader(name, 41000 + i));
    peers.push(link);
  }
  const timer = setInterval(() => peers.forEach((link, i) => void link.send(reportHeader(names[i]!, 41000 + i)).catch(() => {})), 50);
  t.teardown(() => clearInterval(timer));
  await waitFor(() => lists.every((ids) => ids.length === 4), 'every peer to be sent all four', 20_000);
  t.deepEqual(lists, Array(4).fill(names));
  const trackers = new Set([...run.out.matchAll(/^\[(t\w+)\] join/gm)].map((m) => m[1]));
  t.is(trackers.size, 2, `the peers reported to both workers:\n${run.out}`);
  run.stop();
  t.is(await within(run.exited, 'the trackers to stop'), 0);
});

tlsTest('the TLS and secret flags reach every worker: TLS clients get in, a peer without the secret is closed', async (t) => {
  t.timeout(60_000);
  const certs = await makeCertificates();
  t.teardown(() => certs.remove());
  const dir = await tempDir(t, 'rx-tcp-hub-redis-cli-');
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  await writeFile(cert, certs.server.cert);
  await writeFile(key, certs.server.key);

  const server = cli(t, ['server', '--port', '0', '--workers', '2', '--redis', redis.url, '--tls-cert', cert, '--tls-key', key]);
  const serverPort = await listeningPort(server, 2);
  const tlsClient = new Client({ tls: { ca: certs.ca } });
  t.teardown(() => tlsClient.stop({ drainMs: 100 }));
  for (let i = 0; i < 2; i++) await (await next(tlsClient.connect('127.0.0.1', serverPort))).send({ info: `tls${i}` });
  await waitFor(() => (server.out.match(/: \{info: tls\d\}/g) ?? []).length === 2, 'both TLS messages printed');

  const tracker = cli(t, ['tracker', '--port', '0', '--workers', '2', '--redis', redis.url, '--secret', 's3cret', '--interval', '50ms']);
  const trackerPort = await listeningPort(tracker, 2);
  const client = new Client({ hello: sharedSecret('s3cret').hello });
  const stranger = new Client();
  t.teardown(() => Promise.all([client.stop({ drainMs: 100 }), stranger.stop({ drainMs: 100 })]));
  await (await next(client.connect('127.0.0.1', trackerPort))).send(reportHeader('alice', 41000));
  await waitFor(() => tracker.out.includes('join alice'), 'the peer with the secret to join');
  const outsider = await next(stranger.connect('127.0.0.1', trackerPort));
  await outsider.send(reportHeader('mallory', 41001)).catch(() => {});
  await within(firstValueFrom(outsider.closed$), 'the peer without the secret to be closed');
  t.false(tracker.out.includes('join mallory'), tracker.out);

  for (const run of [server, tracker]) run.stop();
  t.is(await within(server.exited, 'the servers to stop'), 0);
  t.is(await within(tracker.exited, 'the trackers to stop'), 0);
});
