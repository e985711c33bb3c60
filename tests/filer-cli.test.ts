/**
 * The filer consoles driven as a user would: `rx-tcp-hub tracker` and `rx-tcp-hub peer` spawned
 * (through tsx, from the sources), commands typed into a piped stdin, output read line by line.
 * The tests run one at a time: each starts node processes, and many at once on a small machine
 * make start-up, not the consoles, what the tests wait for. Every wait is bounded and every child
 * is killed in a teardown.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { UsageError } from '../lib/cli/args.js';
import { parseDuration } from '../lib/cli/duration.js';
import { createFilerPrinter } from '../lib/cli/filer-printer.js';
import { parsePeerCommand } from '../lib/cli/peer-commands.js';
import { ProgressDisplay, clock, progressLine } from '../lib/cli/progress.js';
import { Tracker, reportHeader, type TransferSnapshot } from '../lib/filer/index.js';
import { Client, Server } from '../lib/index.js';
import { parseLine, spawnConsole, type ConsoleProcess } from './helpers/console-process.js';
import { next } from './helpers/loopback.js';
import { sha256File, tempDir, writePattern } from './helpers/transfer.js';

/** A tracker in the test process, fast: a table every 100 ms. */
async function startTracker(t: ExecutionContext): Promise<string> {
  const tracker = await Tracker.listen({ host: '127.0.0.1', port: 0, intervalMs: 100, expireMs: 1000 });
  t.teardown(() => tracker.stop());
  return `127.0.0.1:${tracker.server!.address.port}`;
}

interface PeerConsole extends ConsoleProcess {
  readonly port: number;
  readonly share: string;
  readonly downloads: string;
}

/** `rx-tcp-hub peer --id <id>` with folders of its own; resolves once it printed its address. */
async function peerConsole(t: ExecutionContext, id: string, tracker: string | undefined, extra: string[] = ['--json']): Promise<PeerConsole> {
  const root = await tempDir(t, `rx-tcp-hub-cli-${id}-`);
  const share = join(root, 'share');
  const downloads = join(root, 'downloads');
  await mkdir(share);
  const args = ['peer', '--id', id, '--port', '0', '--interval', '100ms', '--share', share, '--downloads', downloads, ...extra];
  const console = spawnConsole(t, tracker ? [...args, '--tracker', tracker] : args);
  const first = await console.line(() => true);
  const port = extra.includes('--json') ? Number(parseLine(first)?.['port']) : Number(/^listening on 127\.0\.0\.1:(\d+)$/.exec(first)?.[1]);
  t.true(port > 0, `the first line gives the port: ${first}`);
  return Object.assign(console, { port, share, downloads });
}

test.serial('peers, connect, list, send, broadcast and close, typed into the peer console', async (t) => {
  const tracker = await startTracker(t);
  const [alice, bob] = await Promise.all([peerConsole(t, 'alice', tracker), peerConsole(t, 'bob', tracker)]);
  const bobAt = `127.0.0.1:${bob.port}`;
  await alice.event({ event: 'tracker', state: 'open' });
  await alice.event({ event: 'peer-joined', id: 'bob', addr: bobAt });

  alice.type('peers');
  t.deepEqual((await alice.event({ event: 'peers' }))['peers'], [{ id: 'bob', addr: bobAt }]);

  alice.type('connect bob');
  await alice.event({ event: 'connected', existing: false, id: 'out1', direction: 'out', addr: bobAt, peer: 'bob' });
  await bob.event({ event: 'open', id: 'in1', direction: 'in' });
  alice.type('connect bob');
  await alice.event({ event: 'connected', existing: true, id: 'out1' });

  alice.type('list');
  t.deepEqual((await alice.event({ event: 'list' }))['connections'], [{ index: 0, id: 'out1', direction: 'out', addr: bobAt, peer: 'bob' }]);

  alice.type('send bob hello bob');
  await alice.event({ event: 'sent', id: 'out1', peer: 'bob' });
  await bob.event({ event: 'message', id: 'in1', header: { info: 'hello bob' }, text: 'hello bob', contentBytes: 0 });

  // ':' and ';' cannot travel in a header value: the text goes as content, and arrives intact.
  alice.type('send out1 at 9:30; room 2');
  await bob.event({ event: 'message', id: 'in1', header: { info: '' }, text: 'at 9:30; room 2', contentBytes: 15 });

  bob.type('send in1 back to you');
  await bob.event({ event: 'sent', id: 'in1' });
  await alice.event({ event: 'message', id: 'out1', peer: 'bob', text: 'back to you' });

  bob.type('broadcast hi all');
  await bob.event({ event: 'broadcast', to: ['in1'], failed: [] });
  await alice.event({ event: 'message', id: 'out1', text: 'hi all' });

  alice.type('1 bob sent from the menu');
  await bob.event({ event: 'message', id: 'in1', text: 'sent from the menu' });

  alice.type('send nobody hi');
  t.like(await alice.event({ event: 'error' }), { code: 'ERR_UNKNOWN_PEER' });
  alice.type('bogus');
  t.regex(String((await alice.event({ event: 'error' }))['message']), /unknown command "bogus"/);
  alice.type('help');
  const help = (await alice.event({ event: 'help' }))['commands'] as string[];
  for (const command of ['peers', 'connect', 'list', 'send', 'broadcast', 'ls', 'get', 'put', 'transfers', 'cancel', 'help', 'quit']) {
    t.true(
      help.some((line) => line.startsWith(`${command} `)),
      command,
    );
  }

  alice.type('close out1');
  await alice.event({ event: 'closing', id: 'out1' });
  await alice.event({ event: 'close', id: 'out1', reason: 'local' });
  await bob.event({ event: 'close', id: 'in1', reason: 'peer-closed' });

  alice.type('quit');
  await alice.event({ event: 'stopped' });
  t.is(await alice.exit(), 0);
  await bob.event({ event: 'peer-left', id: 'alice' });
  bob.end(); // the end of input stops the console too
  await bob.event({ event: 'stopped' });
  t.is(await bob.exit(), 0);
});

test.serial('ls, get, put, transfers and cancel, typed into the peer console', async (t) => {
  const tracker = await startTracker(t);
  const [alice, bob] = await Promise.all([peerConsole(t, 'alice', tracker), peerConsole(t, 'bob', tracker)]);
  const size = 3 * 1024 * 1024 + 7;
  await writePattern(join(bob.share, 'b.bin'), size, 11);
  const outside = await tempDir(t);
  await writePattern(join(outside, 'notes.bin'), 12345, 12);
  await alice.event({ event: 'peer-joined', id: 'bob' });

  alice.type('ls bob');
  t.deepEqual((await alice.event({ event: 'files' }))['files'], [{ name: 'b.bin', size }]);

  alice.type('get bob b.bin');
  t.like(await alice.event({ event: 'transfer-requested' }), { transfer: { id: 't1', kind: 'get', direction: 'receive', initiator: 'local', conn: 'out1', name: 'b.bin' } });
  const got = await alice.event({ event: 'transfer-done' });
  t.regex(String(got['summary']), /^t1 received b\.bin: 3\.1 MB in \d+\.\d\d s, \d+\.\d MB\/s, SHA-256 verified \([0-9a-f]{8}…\)$/);
  t.is(await sha256File(join(alice.downloads, 'b.bin')), await sha256File(join(bob.share, 'b.bin')));
  t.like(await bob.event({ event: 'transfer-requested' }), { transfer: { id: 't1', kind: 'get', direction: 'send', initiator: 'peer', conn: 'in1' } });
  t.regex(String((await bob.event({ event: 'transfer-done' }))['summary']), /^t1 sent b\.bin: 3\.1 MB/);

  alice.type(`put bob "${join(outside, 'notes.bin')}"`);
  t.like(await alice.event({ event: 'transfer-requested' }), { transfer: { id: 't2', kind: 'put', direction: 'send', name: 'notes.bin' } });
  t.regex(String((await alice.event({ event: 'transfer-done' }))['summary']), /^t2 sent notes\.bin: 12\.3 kB/);
  t.is(await sha256File(join(bob.downloads, 'notes.bin')), await sha256File(join(outside, 'notes.bin')));

  // Refusals come back as failed transfers; the console goes on.
  alice.type('get bob b.bin');
  t.like(await alice.event({ event: 'transfer-failed' }), { transfer: { id: 't3', code: 'ERR_TRANSFER_EXISTS' } });
  alice.type('get bob ../../etc/passwd');
  t.like(await alice.event({ event: 'transfer-failed' }), { transfer: { id: 't4', code: 'ERR_TRANSFER_NAME_INVALID' } });

  // A peer without a transfer engine (a plain server, as the original program) never answers a get:
  // the transfer waits, and cancel stops it.
  const plain = await Server.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => plain.stop());
  alice.type(`get 127.0.0.1:${plain.address.port} x.bin`);
  const t5 = await alice.eventWhere('t5 requested', (e) => e.event === 'transfer-requested' && (e['transfer'] as { id: string }).id === 't5');
  t.like(t5, { transfer: { conn: 'out2', state: 'requested' } });
  alice.type('transfers');
  const listed = (await alice.event({ event: 'transfers' }))['transfers'] as { id: string; state: string }[];
  t.deepEqual(
    listed.map(({ id, state }) => [id, state]),
    [
      ['t1', 'done'],
      ['t2', 'done'],
      ['t3', 'failed'],
      ['t4', 'failed'],
      ['t5', 'requested'],
    ],
  );
  alice.type('cancel t5');
  await alice.event({ event: 'cancelling', id: 't5' });
  t.like(await alice.event({ event: 'transfer-cancelled' }), { by: 'local', transfer: { id: 't5', state: 'cancelled' } });
  alice.type('cancel t1');
  t.regex(String((await alice.event({ event: 'error' }))['message']), /no active transfer "t1"/);

  alice.type('quit');
  t.is(await alice.exit(), 0);
  bob.type('quit');
  t.is(await bob.exit(), 0);
  t.deepEqual(await readdir(alice.downloads), ['b.bin']);
});

test.serial('for people: join and leave lines at the tracker, address-book lines, a progress line and the summary at the peers', async (t) => {
  const trackerConsole = spawnConsole(t, ['tracker', '--port', '0', '--interval', '100ms']);
  const first = await trackerConsole.line(() => true);
  const trackerPort = Number(/^listening on 127\.0\.0\.1:(\d+)$/.exec(first)?.[1]);
  t.true(trackerPort > 0, first);
  const tracker = `127.0.0.1:${trackerPort}`;
  const [alice, bob] = await Promise.all([
    peerConsole(t, 'alice', tracker, ['--progress', '20ms']),
    peerConsole(t, 'bob', tracker, []),
  ]);
  await trackerConsole.line((l) => l === `join alice 127.0.0.1:${alice.port} (c1)` || l === `join alice 127.0.0.1:${alice.port} (c2)`);
  await trackerConsole.line((l) => /^join bob 127\.0\.0\.1:\d+ \(c[12]\)$/.test(l));
  await alice.line((l) => l === `tracker ${tracker} connected`);
  await alice.line((l) => l === `peer bob 127.0.0.1:${bob.port} joined`);

  await writePattern(join(bob.share, 'big.bin'), 64 * 1024 * 1024, 5);
  alice.type('get bob big.bin');
  await alice.line((l) => l === 't1 get big.bin from out1');
  await alice.line((l) => l === 't1 receiving big.bin (67.1 MB)');
  // Not a terminal: a plain progress line every --progress, then the summary.
  await alice.line((l) => /^t1 big\.bin \d+%  [\d.]+ [kM]?B \/ 67\.1 MB/.test(l));
  await alice.line((l) => /^t1 received big\.bin: 67\.1 MB in \d+\.\d\d s, \d+\.\d MB\/s, SHA-256 verified \([0-9a-f]{8}…\)$/.test(l));
  await bob.line((l) => /^t1 sent big\.bin: 67\.1 MB in .* SHA-256 verified/.test(l));

  trackerConsole.type('peers');
  await trackerConsole.line((l) => /^alice 127\.0\.0\.1:\d+ \(c\d, reported \d+ ms ago\)$/.test(l));
  bob.type('quit');
  t.is(await bob.exit(), 0);
  await trackerConsole.line((l) => l === `leave bob 127.0.0.1:${bob.port}: connection closed`);
  await alice.line((l) => l === `peer bob 127.0.0.1:${bob.port} left`);
  alice.end();
  t.is(await alice.exit(), 0);
  trackerConsole.type('quit');
  await trackerConsole.line((l) => l === 'stopped');
  t.is(await trackerConsole.exit(), 0);
});

test.serial('the tracker console drops a peer whose reports stop after --expire, and one whose connection closes at once', async (t) => {
  const trackerConsole = spawnConsole(t, ['tracker', '--port', '0', '--interval', '100ms', '--expire', '400ms', '--json']);
  const port = Number(parseLine(await trackerConsole.line(() => true))?.['port']);
  const client = new Client();
  t.teardown(() => client.stop());
  const [alice, bob] = await Promise.all([next(client.connect('127.0.0.1', port)), next(client.connect('127.0.0.1', port))]);
  const reporting = setInterval(() => void alice.send(reportHeader('alice', 63330)).catch(() => undefined), 50);
  t.teardown(() => clearInterval(reporting));
  await bob.send(reportHeader('bob', 63331)); // once only
  await trackerConsole.event({ event: 'join', id: 'alice', addr: '127.0.0.1:63330' });
  await trackerConsole.event({ event: 'join', id: 'bob', addr: '127.0.0.1:63331' });
  const left = Date.now();
  await trackerConsole.event({ event: 'leave', id: 'bob', reason: 'expired' });
  t.true(Date.now() - left < 2000);
  t.false(bob.closed, 'a silent peer is dropped from the table, not disconnected');

  trackerConsole.type('peers');
  const table = (await trackerConsole.event({ event: 'table' }))['peers'] as { id: string; addr: string }[];
  t.deepEqual(
    table.map(({ id, addr }) => [id, addr]),
    [['alice', '127.0.0.1:63330']],
  );
  await bob.send({ ID: 'b,ob', Port: 1 });
  t.like(await trackerConsole.event({ event: 'invalid-report' }), { conn: 'c2' });

  clearInterval(reporting);
  alice.close();
  await trackerConsole.event({ event: 'leave', id: 'alice', reason: 'closed' });
  trackerConsole.type('bogus');
  await trackerConsole.event({ event: 'error' });
  trackerConsole.end();
  await trackerConsole.event({ event: 'stopped' });
  t.is(await trackerConsole.exit(), 0);
});

test.serial('command-line mistakes exit with status 2 and one line; a port that cannot be listened on exits with status 1', async (t) => {
  const root = await tempDir(t);
  for (const [args, pattern] of [
    [['peer'], /missing --id NAME/],
    [['peer', '--id', 'a b'], /--id: expected a name without spaces/],
    [['peer', '--id', 'a', '--interval', 'soon'], /--interval: expected a duration such as 500ms, 2s or 1m/],
    [['peer', '--id', 'a', '--tracker', 'localhost:http'], /--tracker: expected a port number/],
    [['peer', '--id', 'a', '--port', '0', '--share', join(root, 'missing'), '--downloads', root], /shareDir.*an existing folder/],
    [['tracker', '--expire', '0s'], /--expire: expected a duration/],
    [['tracker', '--bogus'], /Unknown option '--bogus'/],
  ] as const) {
    const console = spawnConsole(t, [...args]);
    t.is(await console.exit(), 2, args.join(' '));
    t.is(console.stderr.length, 1, console.stderr.join('\n'));
    t.regex(console.stderr[0]!, pattern);
  }

  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const taken = (blocker.address() as { port: number }).port;
  const tracker = spawnConsole(t, ['tracker', '--port', String(taken)]);
  t.is(await tracker.exit(), 1);
  t.regex(tracker.stderr.join('\n'), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken}`));

  const help = spawnConsole(t, ['peer', '--help']);
  t.is(await help.exit(), 0);
  t.true(help.stdout.some((line) => line.startsWith('usage: rx-tcp-hub peer --id NAME')));
});

// The pieces of the consoles, without processes

test('durations are 500ms, 2s, 1.5s, 1m or a bare number of ms; anything else is a usage error naming the flag', (t) => {
  t.is(parseDuration('500ms'), 500);
  t.is(parseDuration('2s'), 2000);
  t.is(parseDuration('1.5s'), 1500);
  t.is(parseDuration('1m'), 60_000);
  t.is(parseDuration('250'), 250);
  for (const bad of ['0s', 'soon', '-1', '2 s', '', '1d']) {
    t.throws(() => parseDuration(bad, '--interval'), { instanceOf: UsageError, message: /^--interval: expected a duration/ });
  }
});

test('peer console lines parse into commands: quoted words, the seed menu, chat text kept as typed', (t) => {
  t.deepEqual(parsePeerCommand('get bob "my file.bin" copy.bin'), { name: 'get', peer: 'bob', file: 'my file.bin', as: 'copy.bin' });
  t.deepEqual(parsePeerCommand('put 127.0.0.1:6000 ./notes.txt'), { name: 'put', peer: '127.0.0.1:6000', file: './notes.txt' });
  t.deepEqual(parsePeerCommand('1 bob see you at 9:30;  ok '), { name: 'send', to: 'bob', text: 'see you at 9:30;  ok' });
  t.deepEqual(parsePeerCommand('0 bob'), { name: 'connect', peer: 'bob' });
  t.deepEqual(parsePeerCommand('2 hello all'), { name: 'broadcast', text: 'hello all' });
  t.deepEqual(parsePeerCommand('  '), { name: 'nothing' });
  t.deepEqual(parsePeerCommand('EXIT'), { name: 'quit' });
  for (const [line, message] of [
    ['get bob', /usage: get <peer> <name> \[as\]/],
    ['get bob "open', /a quote is not closed/],
    ['ls a b', /usage: ls <peer>/],
    ['peers now', /peers takes no arguments/],
    ['fetch bob', /unknown command "fetch"/],
  ] as const) {
    t.throws(() => parsePeerCommand(line), { instanceOf: UsageError, message });
  }
});

const snapshot = (fields: Partial<TransferSnapshot>): TransferSnapshot =>
  ({ id: 't1', name: 'big.bin', size: 8_000_000, bytes: 2_000_000, bytesPerSecond: 1_000_000, etaMs: 6000, ...fields }) as TransferSnapshot;

test('a progress line shows the bar, the share done, the amounts, the rate and the time left', (t) => {
  t.is(progressLine(snapshot({})), 't1 big.bin [#####...............] 25%  2.0 MB / 8.0 MB  1.0 MB/s  0:06 left');
  t.is(progressLine(snapshot({}), 0), 't1 big.bin 25%  2.0 MB / 8.0 MB  1.0 MB/s  0:06 left');
  t.is(progressLine(snapshot({ size: 0, bytes: 0, bytesPerSecond: 0, etaMs: undefined }), 4), 't1 big.bin [####] 100%  0 B / 0 B');
  t.is(clock(3_725_000), '1:02:05');
});

test('without a terminal, progress is one line per transfer every everyMs; on a terminal, one status line redrawn at most every redrawMs', (t) => {
  let now = 0;
  const lines: string[] = [];
  const statuses: string[] = [];
  const sink = { line: (text: string) => lines.push(text), status: (text: string) => statuses.push(text) };
  const plain = new ProgressDisplay(sink, { tty: false, everyMs: 2000, now: () => now });
  for (now = 0; now <= 5000; now += 500) plain.update(snapshot({ bytes: now * 1000 }));
  t.deepEqual(lines, ['t1 big.bin 25%  2.0 MB / 8.0 MB  1.0 MB/s  0:06 left', 't1 big.bin 50%  4.0 MB / 8.0 MB  1.0 MB/s  0:06 left']);

  const bars = new ProgressDisplay(sink, { tty: true, everyMs: 2000, redrawMs: 100, columns: () => 200, now: () => now });
  now = 0;
  bars.update(snapshot({ id: 't1' }));
  now = 50;
  bars.update(snapshot({ id: 't2', name: 'b.bin' })); // too soon: not drawn yet
  now = 150;
  bars.update(snapshot({ id: 't2', name: 'b.bin', bytes: 4_000_000 }));
  bars.end('t1');
  bars.end('t2');
  t.is(statuses.length, 4);
  t.regex(statuses[1]!, /^t1 big\.bin \[###\.+\] 25% .* \| t2 b\.bin \[#####\.+\] 50% /);
  t.is(statuses[3], '');
});

test('on a terminal the printer clears the progress bar before a line and draws it again after', (t) => {
  const written: string[] = [];
  const out = Object.assign(new Writable({ write: (chunk, _encoding, done) => (written.push(String(chunk)), done()) }), { isTTY: true, columns: 200 });
  const printer = createFilerPrinter({ json: false, out, progressEveryMs: 2000 });
  printer.progress(snapshot({}));
  printer.print({ event: 'peer-joined', id: 'bob', addr: '127.0.0.1:63331' });
  printer.ended('t1');
  const bar = 't1 big.bin [#####...............] 25%  2.0 MB / 8.0 MB  1.0 MB/s  0:06 left';
  t.deepEqual(written, [`\r\x1b[2K${bar}`, '\r\x1b[2K', 'peer bob 127.0.0.1:63331 joined\n', bar, '\r\x1b[2K']);
});
