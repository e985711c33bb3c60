/**
 * The limit, TLS and secret flags, the `stats` command and the signals, on the four consoles run
 * as a user would (tests/helpers/console-process.ts): a flag given on the command line takes
 * effect on real loopback connections. The tests run one at a time, as the other CLI tests: each
 * starts node processes. Every wait is bounded and every child is killed in a teardown.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { firstValueFrom } from 'rxjs';
import { Client, Server } from '../lib/index.js';
import { makeCertificates, type Certificates } from './helpers/certificates.js';
import { find, gate, OPENSSL } from './helpers/programs.js';
import { parseLine, spawnConsole, type ConsoleLine, type ConsoleProcess } from './helpers/console-process.js';
import { closedPort, next, rawConnect, socketClosed, within } from './helpers/loopback.js';
import { tempDir } from './helpers/transfer.js';

const openssl = find(OPENSSL);
const tlsTest = gate(test, openssl);
let certs: Certificates;

test.before(async () => {
  if (openssl.kind !== 'missing') certs = await makeCertificates();
});

test.after.always(async () => {
  await certs?.remove();
});

/** Spawns a console and reads the port from its first line (`--json` or not). */
async function listening(t: ExecutionContext, args: string[]): Promise<ConsoleProcess & { port: number }> {
  const console = spawnConsole(t, args);
  const first = await console.line(() => true);
  const port = Number(parseLine(first)?.['port'] ?? /:(\d+)$/.exec(first)?.[1]);
  t.true(port > 0, `the first line gives the port: ${first}`);
  return Object.assign(console, { port });
}

/** Types `stats --json` and reads the snapshot. */
async function stats(console: ConsoleProcess): Promise<ConsoleLine & { closes: Record<string, number>; refusals: Record<string, number> }> {
  console.type('stats --json');
  return (await console.event({ event: 'stats' })) as ConsoleLine & { closes: Record<string, number>; refusals: Record<string, number> };
}

/** The test certificates as PEM files in a folder removed after the test. */
async function certificateFiles(t: ExecutionContext) {
  const dir = await tempDir(t, 'rx-tcp-hub-cli-tls-');
  const files = { ca: certs.ca, cert: certs.server.cert, key: certs.server.key, clientCert: certs.client.cert, clientKey: certs.client.key };
  const paths = {} as Record<keyof typeof files, string>;
  for (const [name, content] of Object.entries(files)) {
    paths[name as keyof typeof files] = join(dir, `${name}.pem`);
    await writeFile(paths[name as keyof typeof files], content);
  }
  return paths;
}

/** A peer console with folders of its own. */
async function peer(t: ExecutionContext, id: string, extra: string[]): Promise<ConsoleProcess & { port: number }> {
  const root = await tempDir(t, `rx-tcp-hub-cli-${id}-`);
  await mkdir(join(root, 'share'));
  const args = ['--id', id, '--port', '0', '--interval', '100ms', '--share', join(root, 'share'), '--downloads', join(root, 'downloads')];
  return listening(t, ['peer', ...args, '--json', ...extra]);
}

test.serial('server --max-content 10 closes a client that sends more content as protocol-error, and takes 10 bytes', async (t) => {
  const server = await listening(t, ['server', '--port', '0', '--json', '--max-content', '10']);
  const client = new Client();
  t.teardown(() => client.stop());
  const messenger = await next(client.connect('127.0.0.1', server.port));

  await messenger.send({ info: 'fits' }, Buffer.alloc(10));
  await server.event({ event: 'message', text: 'fits', contentBytes: 10 });
  await messenger.send({ info: 'too big' }, Buffer.alloc(11));
  const close = await server.event({ event: 'close', reason: 'protocol-error' });
  t.regex(String(close['error']), /11 content bytes; maxContentBytes is 10/);
  t.is((await stats(server)).closes['protocol-error'], 1);
  server.end();
  t.is(await server.exit(), 0);
});

test.serial('server --max-connections 1 refuses a second connection and counts it; the first keeps working', async (t) => {
  const server = await listening(t, ['server', '--port', '0', '--json', '--max-connections', '1']);
  const client = new Client();
  t.teardown(() => client.stop());
  const first = await next(client.connect('127.0.0.1', server.port));
  await server.event({ event: 'open', alive: 1 });

  const second = await next(client.connect('127.0.0.1', server.port));
  await within(firstValueFrom(second.closed$), 'the second connection to be refused');
  t.like(await stats(server), { connections: 1, refusals: { 'max-connections': 1, stopped: 0 } });
  await first.send({ info: 'still here' });
  await server.event({ event: 'message', text: 'still here' });
  server.end();
  t.is(await server.exit(), 0);
});

test.serial('client --max-connections 1 refuses a second connect without dialling, with ERR_TOO_MANY_CONNECTIONS', async (t) => {
  const server = await Server.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => server.stop());
  const address = `127.0.0.1:${server.address.port}`;
  const client = spawnConsole(t, ['client', '--json', '--max-connections', '1', '--connect', address]);
  await client.event({ event: 'open', id: 'c1' });

  client.type(`connect ${address}`);
  const error = await client.event({ event: 'error' });
  t.is(error['code'], 'ERR_TOO_MANY_CONNECTIONS');
  t.like(await stats(client), { connections: 1 });
  t.is(server.stats().connections, 1);
  client.end();
  t.is(await client.exit(), 0);
});

test.serial('stats prints in every console: two lines for people, one JSON line with --json', async (t) => {
  const server = await listening(t, ['server', '--port', '0']);
  const client = spawnConsole(t, ['client', '--connect', `127.0.0.1:${server.port}`]);
  await client.line((line) => line.startsWith('open c1'));
  await server.line((line) => line.startsWith('open c1'));
  client.type('send c1 hello');
  await server.line((line) => line.endsWith(': hello'));
  server.type('stats');
  t.regex(await server.line((line) => line.startsWith('1 open')), /^1 open \(0 authenticating, 0 handshaking\), in 1 message \d+ B, out 0 messages 0 B, 0 B queued$/);
  t.is(await server.line((line) => line.startsWith('closes:')), 'closes: none; refusals: none');
  client.type('stats --json');
  const json = parseLine(await client.line((line) => line.startsWith('{')))!;
  t.like(json, { event: 'stats', connections: 1, messagesOut: 1, closes: { local: 0 } });

  const tracker = await listening(t, ['tracker', '--port', '0']);
  tracker.type('stats');
  t.regex(await tracker.line((line) => line.includes(' open (')), /^0 open \(0 authenticating, 0 handshaking\), in 0 messages/);
  const alice = await peer(t, 'alice', ['--tracker', `127.0.0.1:${tracker.port}`]);
  await alice.event({ event: 'tracker', state: 'open' });
  t.like(await stats(alice), { event: 'stats', connections: 1 });
  for (const console of [server, client, tracker, alice]) console.end();
  for (const console of [server, client, tracker, alice]) t.is(await console.exit(), 0);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test.serial(`${signal} stops each of the four consoles with exit status 0 while its stdin is still open`, async (t) => {
    const tracker = await listening(t, ['tracker', '--port', '0', '--json']);
    const server = await listening(t, ['server', '--port', '0', '--json']);
    const client = spawnConsole(t, ['client', '--json', '--connect', `127.0.0.1:${server.port}`]);
    await client.event({ event: 'open' });
    // One peer reports to a tracker, one keeps redialling one that is not there.
    const alice = await peer(t, 'alice', ['--tracker', `127.0.0.1:${tracker.port}`]);
    const bob = await peer(t, 'bob', ['--tracker', `127.0.0.1:${await closedPort()}`]);
    await alice.event({ event: 'tracker', state: 'open' });
    await bob.event({ event: 'tracker', state: 'retrying' });

    for (const console of [client, alice, bob, server, tracker]) {
      console.signal(signal);
      t.is(await console.exit(), 0, console.stdout.join('\n'));
      t.deepEqual(parseLine(console.stdout.at(-1)!), { event: 'stopped' });
      t.deepEqual(console.stderr, []);
    }
  });
}

tlsTest.serial('TLS flags: mutual TLS between a server and a client console, and a server that drops slow handshakes', async (t) => {
  const files = await certificateFiles(t);
  const server = await listening(t, [
    ...['server', '--port', '0', '--json', '--tls-cert', files.cert, '--tls-key', files.key, '--tls-ca', files.ca],
    ...['--handshake-timeout', '1s'],
  ]);
  const client = spawnConsole(t, ['client', '--json', '--connect', `127.0.0.1:${server.port}`, '--tls-ca', files.ca, '--tls-cert', files.clientCert, '--tls-key', files.clientKey]);
  await client.event({ event: 'open', id: 'c1' });
  client.type('send c1 over tls');
  await server.event({ event: 'message', text: 'over tls' });

  // A client that trusts the server but shows no certificate is refused.
  const stranger = new Client({ tls: { ca: certs.ca } });
  t.teardown(() => stranger.stop());
  await firstValueFrom(stranger.connect('127.0.0.1', server.port)).then(
    (messenger) => within(firstValueFrom(messenger.closed$), 'the stranger to be closed'),
    () => undefined,
  );
  // One that never starts its handshake is dropped.
  await within(socketClosed(await rawConnect(t, server.port)), 'the silent connection to be dropped');
  t.like(await stats(server), { connections: 1, refusals: { 'handshake-failed': 1, 'handshake-timeout': 1 } });
  for (const console of [server, client]) console.end();
  for (const console of [server, client]) t.is(await console.exit(), 0);
});

tlsTest.serial('a tracker and a peer with TLS flags: the peer reports over TLS and joins', async (t) => {
  const files = await certificateFiles(t);
  const tracker = await listening(t, ['tracker', '--port', '0', '--json', '--interval', '100ms', '--tls-cert', files.cert, '--tls-key', files.key]);
  const alice = await peer(t, 'alice', ['--tracker', `127.0.0.1:${tracker.port}`, '--tls-ca', files.ca, '--tls-cert', files.cert, '--tls-key', files.key]);
  await alice.event({ event: 'tracker', state: 'open' });
  await tracker.event({ event: 'join', id: 'alice' });
  for (const console of [tracker, alice]) console.end();
  for (const console of [tracker, alice]) t.is(await console.exit(), 0);
});

test.serial('with --secret, the tracker and the peers refuse a peer with another secret, and let in the one with theirs', async (t) => {
  const dir = await tempDir(t, 'rx-tcp-hub-cli-secret-');
  const secretFile = join(dir, 'secret.txt');
  await writeFile(secretFile, 'open sesame\n');
  const tracker = await listening(t, ['tracker', '--port', '0', '--json', '--interval', '100ms', '--secret', 'open sesame']);
  const trackerAddress = `127.0.0.1:${tracker.port}`;
  const alice = await peer(t, 'alice', ['--tracker', trackerAddress, '--secret-file', secretFile]);
  const mallory = await peer(t, 'mallory', ['--tracker', trackerAddress, '--secret', 'guess']);

  await tracker.event({ event: 'join', id: 'alice' });
  await mallory.event({ event: 'tracker', state: 'retrying' });
  const atTracker = await stats(tracker);
  t.true(atTracker.closes['auth-failed']! >= 1, JSON.stringify(atTracker.closes));
  tracker.type('peers');
  const table = await tracker.event({ event: 'table' });
  t.deepEqual((table['peers'] as { id: string }[]).map((p) => p.id), ['alice']);

  mallory.type(`send 127.0.0.1:${alice.port} let me in`);
  // Alice destroys the connection at once: with mallory's message still unread there, mallory may
  // see the close as a reset rather than a FIN.
  const closed = await mallory.eventWhere('the refused connection to close', (e) => e['event'] === 'close' && e['direction'] === 'out');
  t.true(closed['reason'] === 'peer-closed' || closed['reason'] === 'reset', JSON.stringify(closed));
  t.like(await stats(alice), { closes: { 'auth-failed': 1 } });
  for (const console of [tracker, alice, mallory]) console.end();
  for (const console of [tracker, alice, mallory]) t.is(await console.exit(), 0);
});

test.serial('a TLS or secret file that cannot be read stops the console at start with one line and exit status 2', async (t) => {
  const missing = join(await tempDir(t, 'rx-tcp-hub-cli-missing-'), 'missing.pem');
  const cases = [
    [['server', '--tls-cert', missing, '--tls-key', missing], /^rx-tcp-hub: --tls-cert: cannot read ".*missing\.pem" \(ENOENT\)/],
    [['client', '--tls-ca', missing], /^rx-tcp-hub: --tls-ca: cannot read/],
    [['tracker', '--port', '0', '--secret-file', missing], /^rx-tcp-hub: --secret-file: cannot read/],
    [['peer', '--id', 'a', '--port', '0', '--max-content', '1tb'], /^rx-tcp-hub: --max-content: expected a size such as 64kb/],
  ] as const;
  for (const [args, pattern] of cases) {
    const console = spawnConsole(t, [...args]);
    t.is(await console.exit(), 2, args.join(' '));
    t.is(console.stderr.length, 1, console.stderr.join('\n'));
    t.regex(console.stderr[0]!, pattern);
    t.deepEqual(console.stdout, []);
  }
});
