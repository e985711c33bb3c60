/**
 * The consoles, driven as a user would: each test spawns `rx-tcp-hub server` and/or `client`
 * (through tsx, from the sources), types commands into a piped stdin and reads stdout lines.
 * Every wait is bounded, and every child is killed in a teardown if it is still running. The
 * tests run one at a time: each starts node processes, and many starting at once on a small
 * machine make start-up, not the consoles, what the tests wait for.
 */
import test, { type ExecutionContext } from 'ava';
import { createServer, type Socket } from 'node:net';
import { firstValueFrom } from 'rxjs';
import { Client } from '../lib/index.js';
import { parseLine, spawnConsole, type ConsoleProcess } from './helpers/console-process.js';

/** A `--json` server console, and the port it printed on its first line. */
async function serverConsole(t: ExecutionContext, extra: string[] = ['--json']): Promise<{ server: ConsoleProcess; port: number }> {
  const server = spawnConsole(t, ['server', '--port', '0', ...extra]);
  const first = await server.line(() => true);
  const port = extra.includes('--json') ? Number(parseLine(first)?.['port']) : Number(/:(\d+)$/.exec(first)?.[1]);
  t.true(port > 0, `first line gives the port: ${first}`);
  return { server, port };
}

/** A server console and a client console connected to it once (c1 on both sides). */
async function consolePair(t: ExecutionContext, json = true) {
  const flags = json ? ['--json'] : [];
  const { server, port } = await serverConsole(t, flags);
  const client = spawnConsole(t, ['client', '--connect', `127.0.0.1:${port}`, ...flags]);
  if (json) {
    await client.event({ event: 'open', id: 'c1', addr: `127.0.0.1:${port}`, alive: 1 });
    await server.event({ event: 'open', id: 'c1', alive: 1 });
  } else {
    await client.line((l) => l === `open c1 127.0.0.1:${port} (1 alive)`);
    await server.line((l) => /^open c1 127\.0\.0\.1:\d+ \(1 alive\)$/.test(l));
  }
  return { server, client, port };
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

test.serial('the server console prints the address it listens on as its first line', async (t) => {
  const { server, port } = await serverConsole(t, []);
  t.regex(server.stdout[0]!, /^listening on 127\.0\.0\.1:\d+$/);
  t.true(port > 0);
  const json = spawnConsole(t, ['server', '--json']);
  const first = parseLine(await json.line(() => true));
  t.like(first, { event: 'listening', host: '127.0.0.1' });
  t.true(Number(first?.['port']) > 0, 'the default port 0 gives a free port');
  server.type('quit');
  json.type('quit');
  t.is(await server.exit(), 0);
  t.is(await json.exit(), 0);
});

test.serial('list shows each connection with its index, id and address', async (t) => {
  const { server, client, port } = await consolePair(t);
  client.type('list');
  const listed = await client.event({ event: 'list' });
  t.deepEqual(listed['connections'], [{ index: 0, id: 'c1', addr: `127.0.0.1:${port}` }]);
  server.type('list');
  const seen = (await server.event({ event: 'list' }))['connections'] as { index: number; id: string; addr: string }[];
  t.is(seen.length, 1);
  t.like(seen[0], { index: 0, id: 'c1' });
  t.regex(seen[0]!.addr, /^127\.0\.0\.1:\d+$/);
});

test.serial('send delivers typed text as info, to a connection named by index or by id', async (t) => {
  const { server, client, port } = await consolePair(t);
  client.type('send 0 hello by index');
  await client.event({ event: 'sent', to: 'c1', addr: `127.0.0.1:${port}` });
  const byIndex = await server.event({ event: 'message', from: 'c1' });
  t.like(byIndex, { header: { info: 'hello by index' }, text: 'hello by index', contentBytes: 0 });
  t.regex(String(byIndex['addr']), /^127\.0\.0\.1:\d+$/);

  server.type('send c1 hello by id');
  await server.event({ event: 'sent', to: 'c1' });
  await client.event({ event: 'message', from: 'c1', addr: `127.0.0.1:${port}`, header: { info: 'hello by id' }, contentBytes: 0 });
});

test.serial('broadcast reaches every connection of the console', async (t) => {
  const { server, client, port } = await consolePair(t);
  client.type(`connect 127.0.0.1:${port}`);
  await client.event({ event: 'open', id: 'c2', alive: 2 });
  await server.event({ event: 'open', id: 'c2', alive: 2 });

  server.type('broadcast hello everyone');
  await server.event({ event: 'broadcast', to: ['c1', 'c2'], failed: [] });
  await client.event({ event: 'message', from: 'c1', text: 'hello everyone' });
  await client.event({ event: 'message', from: 'c2', text: 'hello everyone' });

  client.type('broadcast and back');
  await client.event({ event: 'broadcast', to: ['c1', 'c2'], failed: [] });
  await server.event({ event: 'message', from: 'c1', text: 'and back' });
  await server.event({ event: 'message', from: 'c2', text: 'and back' });
});

test.serial("the seed's numeric menu connects, sends and broadcasts", async (t) => {
  const { server, client, port } = await consolePair(t);
  client.type(`0 127.0.0.1:${port}`);
  await client.event({ event: 'open', id: 'c2', alive: 2 });
  await server.event({ event: 'open', id: 'c2', alive: 2 });

  client.type('1 c2 sent from the menu');
  await server.event({ event: 'message', from: 'c2', header: { info: 'sent from the menu' } });
  server.type('1 0 answered from the menu');
  await client.event({ event: 'message', from: 'c1', header: { info: 'answered from the menu' } });

  server.type('2 menu broadcast');
  await client.event({ event: 'message', from: 'c1', text: 'menu broadcast' });
  await client.event({ event: 'message', from: 'c2', text: 'menu broadcast' });

  server.type('0 127.0.0.1:1');
  t.regex(String((await server.event({ event: 'error' }))['message']), /client console/);
});

test.serial('text holding ":" and ";" arrives intact, carried as content', async (t) => {
  const { server, client } = await consolePair(t);
  const text = 'meet at 12:30; bring a key:value pair  ';
  client.type(`send c1 ${text}`);
  const message = await server.event({ event: 'message', from: 'c1' });
  t.is(message['text'], text);
  t.deepEqual(message['header'], { info: '' });
  t.is(message['contentBytes'], Buffer.byteLength(text));

  server.type('broadcast é:ü;ß');
  t.like(await client.event({ event: 'message', from: 'c1' }), { text: 'é:ü;ß', contentBytes: Buffer.byteLength('é:ü;ß') });
});

test.serial('a bad command line prints one error line and the console goes on', async (t) => {
  const { server, client } = await consolePair(t);
  const bad = ['frobnicate', 'send 99 hi', 'send c9 hi', 'send', 'send 0', '1', '2', 'close 42', 'close', 'connect nothing', 'connect 127.0.0.1:99999', '0', 'list extra'];
  for (const line of bad) client.type(line);
  client.type('list');
  const errors: string[] = [];
  for (const line of bad) {
    const error = await client.event({ event: 'error' });
    t.is(typeof error['message'], 'string', line);
    errors.push(String(error['message']));
  }
  t.regex(errors[0]!, /unknown command "frobnicate"/);
  t.regex(errors[1]!, /no connection "99"/);
  t.regex(errors[3]!, /usage: send <conn> <text>/);
  t.regex(errors[9]!, /expected host:port/);
  t.true(Array.isArray((await client.event({ event: 'list' }))['connections']));

  // The connection still works after all that.
  client.type('send 0 still here');
  await server.event({ event: 'message', from: 'c1', text: 'still here' });
  t.is(client.stderr.length, 0);
});

test.serial('a refused dial prints a line about it and the console goes on', async (t) => {
  const { server, client } = await consolePair(t);
  const port = await closedPort();
  client.type(`connect 127.0.0.1:${port}`);
  const failed = await client.event({ event: 'dial-failed', host: '127.0.0.1', port });
  t.regex(String(failed['error']), /ECONNREFUSED/);
  client.type('send 0 after the failed dial');
  await server.event({ event: 'message', from: 'c1', text: 'after the failed dial' });
});

test.serial('close ends one connection and both sides report it with the number still alive', async (t) => {
  const { server, client, port } = await consolePair(t);
  client.type(`connect 127.0.0.1:${port}`);
  await client.event({ event: 'open', id: 'c2', alive: 2 });
  await server.event({ event: 'open', id: 'c2', alive: 2 });
  server.type('close c1');
  await server.event({ event: 'close', id: 'c1', reason: 'local', alive: 1 });
  await client.event({ event: 'close', id: 'c1', reason: 'peer-closed', alive: 1 });
  client.type('close 0'); // c2 is index 0 now
  await client.event({ event: 'close', id: 'c2', reason: 'local', alive: 0 });
  await server.event({ event: 'close', id: 'c2', reason: 'peer-closed', alive: 0 });
  server.type('list');
  t.deepEqual((await server.event({ event: 'list' }))['connections'], []);
});

test.serial('quit stops the console with exit status 0, and its peer sees the connection close', async (t) => {
  const { server, client } = await consolePair(t);
  client.type('quit');
  await client.event({ event: 'close', id: 'c1', reason: 'local', alive: 0 });
  await client.event({ event: 'stopped' });
  t.is(await client.exit(), 0);
  await server.event({ event: 'close', id: 'c1', reason: 'peer-closed', alive: 0 });
  server.type('quit');
  t.is(await server.exit(), 0);
});

test.serial('the end of input stops the console with exit status 0', async (t) => {
  const { server, client } = await consolePair(t);
  client.type('send 0 last words');
  client.end();
  await server.event({ event: 'message', from: 'c1', text: 'last words' });
  t.is(await client.exit(), 0);
  server.end();
  t.is(await server.exit(), 0);
  t.deepEqual(parseLine(server.stdout.at(-1)!), { event: 'stopped' });
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test.serial(`${signal} stops the console with exit status 0`, async (t) => {
    const { server, client } = await consolePair(t);
    client.signal(signal);
    t.is(await client.exit(), 0);
    await server.event({ event: 'close', id: 'c1', reason: 'peer-closed' });
    server.signal(signal);
    t.is(await server.exit(), 0);
  });
}

test.serial('human output: one line per event, with the sender, its address and the text', async (t) => {
  const { server, client, port } = await consolePair(t, false);
  client.type('send 0 hello there');
  await server.line((l) => /^message c1 127\.0\.0\.1:\d+: hello there$/.test(l));
  server.type('send 0 line: one; and two');
  await client.line((l) => l === `message c1 127.0.0.1:${port}: line: one; and two [18 bytes of content]`);
  client.type('send 7 nobody');
  t.is(await client.line((l) => l.startsWith('error:')), 'error: no connection "7"; type list to see them');
  server.type('close 0');
  await server.line((l) => /^close c1 127\.0\.0\.1:\d+: local, 0 alive$/.test(l));
  await client.line((l) => l === `close c1 127.0.0.1:${port}: peer-closed, 0 alive`);
  client.type('quit');
  t.is(await client.exit(), 0);
  t.is(client.stdout.at(-1), 'stopped');
});

test.serial('a message without info text shows its header, and the size of content that is not text', async (t) => {
  const { server, port } = await serverConsole(t);
  const peer = new Client();
  t.teardown(() => peer.stop());
  const messenger = await firstValueFrom(peer.connect('127.0.0.1', port));
  await messenger.send({ ID: 'Stan', Port: 63330 });
  await messenger.send({ info: '' }, Buffer.from([0xff, 0xfe, 0x00]));
  await messenger.send({ info: 'multi' }, Buffer.from('line\ntext'));
  const report = await server.event({ event: 'message', header: { ID: 'Stan', Port: '63330' } });
  t.false('text' in report);
  t.like(await server.event({ event: 'message', contentBytes: 3 }), { text: '', header: { info: '' } });
  t.like(await server.event({ event: 'message', contentBytes: 9 }), { text: 'multi' });
  await peer.stop();
  server.end();
  t.is(await server.exit(), 0);
});

test.serial('a server console that cannot listen prints one line to stderr and exits 1', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const { port } = taken.address() as { port: number };
  const run = spawnConsole(t, ['server', '--port', String(port)]);
  t.is(await run.exit(), 1);
  t.deepEqual(run.stdout, []);
  t.is(run.stderr.length, 1);
  t.regex(run.stderr[0]!, new RegExp(`^rx-tcp-hub: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
});

test.serial('--help prints the usage and exits 0, for the command and each console', async (t) => {
  const runs = [['--help'], ['server', '--help'], ['client', '-h']].map((args) => ({ args, run: spawnConsole(t, args) }));
  for (const { args, run } of runs) {
    t.is(await run.exit(), 0, args.join(' '));
    t.regex(run.stdout.join('\n'), /usage/, args.join(' '));
    t.deepEqual(run.stderr, []);
  }
  t.regex(runs[1]!.run.stdout.join('\n'), /broadcast <text>/);
  t.regex(runs[2]!.run.stdout.join('\n'), /connect <host:port>/);
});

test.serial('an unknown subcommand or a bad flag prints one line to stderr and exits 2', async (t) => {
  const cases = [['serve'], [], ['server', '--bogus'], ['server', '--port', 'x'], ['server', '--port', '70000'], ['client', '--connect', 'nothing'], ['client', 'extra']];
  const runs = cases.map((args) => ({ args, run: spawnConsole(t, args) }));
  for (const { args, run } of runs) {
    t.is(await run.exit(), 2, args.join(' '));
    t.is(run.stderr.length, 1, args.join(' '));
    t.regex(run.stderr[0]!, /^rx-tcp-hub: /);
    t.deepEqual(run.stdout, []);
  }
});

test.serial('a client console keeps running commands while the server it sends to has stopped reading', async (t) => {
  // A server that accepts and never reads: the kernel buffers fill (a few MiB), then the client's queue.
  const accepted: Socket[] = [];
  const stalled = createServer((socket) => accepted.push(socket.pause()));
  await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of accepted) socket.destroy();
    stalled.close();
  });
  const { port } = stalled.address() as { port: number };
  const client = spawnConsole(t, ['client', '--json', '--write-timeout', '2s', '--connect', `127.0.0.1:${port}`]);
  await client.event({ event: 'open', id: 'c1' });
  const text = 'x'.repeat(200);
  // About 8 MiB: more than the loopback kernel buffers hold, so the sends outrun the reader.
  client.type(Array.from({ length: 40_000 }, () => `send c1 ${text}`).join('\n'));
  client.type('stats --json');
  // Every send is accepted at once, and the command after them runs: no send waits for the reader.
  const stats = await client.event({ event: 'stats' }, 30_000);
  t.is(client.stdout.filter((l) => parseLine(l)?.event === 'sent').length, 40_000);
  t.true(Number((stats as { queuedBytes?: number }).queuedBytes) > 0, 'bytes were still queued when stats ran');
  // The write deadline then closes the connection as slow-consumer.
  const closed = await client.event({ event: 'close', id: 'c1' }, 30_000);
  t.is(closed['reason'], 'slow-consumer');
  client.type('quit');
  t.is(await client.exit(), 0);
});
