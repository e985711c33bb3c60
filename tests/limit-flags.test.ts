/**
 * The limit, TLS and secret flags of the four subcommands: sizes and durations as people write
 * them, each flag reaching its library option, and every bad value refused with one line naming
 * the flag. The files they name are read at start: tests/cli-limits.test.ts runs the consoles.
 */
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError, parseClientArgs, parseServerArgs } from '../lib/cli/args.js';
import { parsePeerArgs, parseTrackerArgs } from '../lib/cli/filer-args.js';
import { dialTls, listenTls, readSecret, readTlsFiles } from '../lib/cli/flag-files.js';
import { parseSize } from '../lib/cli/size.js';
import { makeCertificates } from './helpers/certificates.js';
import { find, gate, OPENSSL } from './helpers/programs.js';

const parsers = {
  server: parseServerArgs,
  client: parseClientArgs,
  tracker: (argv: readonly string[]) => parseTrackerArgs(['--port', '0', ...argv]),
  peer: (argv: readonly string[]) => parsePeerArgs(['--id', 'alice', ...argv]),
};

test('sizes read as people write them: 64kb, 1mb, 1gb, 1.5mb, a bare number of bytes; 1kb is 1024 bytes', (t) => {
  t.is(parseSize('64kb'), 64 * 1024);
  t.is(parseSize('1mb'), 1024 * 1024);
  t.is(parseSize('1gb'), 1024 ** 3);
  t.is(parseSize('1.5mb'), 1.5 * 1024 * 1024);
  t.is(parseSize('1MB'), 1024 * 1024);
  t.is(parseSize('64k'), 64 * 1024);
  t.is(parseSize('100'), 100);
  t.is(parseSize('0'), 0);
  t.is(parseSize('10b'), 10);
});

test('a size that does not parse is a one-line usage error naming the flag and the text', (t) => {
  for (const text of ['', 'mb', '-1', '1tb', '1 2', 'ten', '1e3', '99999999999gb']) {
    const error = t.throws(() => parseSize(text, '--max-queue'), { instanceOf: UsageError }, text);
    t.true(error?.message.startsWith(`--max-queue: expected a size such as 64kb, 1mb or 1gb`), error?.message);
    t.true(error?.message.endsWith(`got ${JSON.stringify(text)}`), error?.message);
    t.false(error?.message.includes('\n'));
  }
});

test('every limit flag of a listening subcommand reaches its library option', (t) => {
  const argv = [
    ...['--max-connections', '100', '--max-content', '64kb', '--max-queue', '1mb', '--frame-timeout', '2s'],
    ...['--idle-timeout', '1m', '--heartbeat', '500ms', '--first-message-timeout', '750', '--handshake-timeout', '3s'],
    ...['--max-queue-total', '32mb', '--write-timeout', '3s', '--max-inbound-total', '16mb'],
  ];
  for (const kind of ['server', 'tracker', 'peer'] as const) {
    const { limits } = parsers[kind](argv);
    t.deepEqual(limits.connection, {
      maxConnections: 100,
      maxContentBytes: 65536,
      maxQueueBytes: 1048576,
      maxQueuedBytesTotal: 32 * 1048576,
      maxInboundBytesTotal: 16 * 1048576,
      writeTimeoutMs: 3000,
      frameTimeoutMs: 2000,
      idleTimeoutMs: 60_000,
      heartbeatMs: 500,
    }, kind);
    t.deepEqual(limits.listen, { firstMessageTimeoutMs: 750, handshakeTimeoutMs: 3000 }, kind);
    t.is(limits.tls, undefined, kind);
  }
});

test('flags left out keep the library defaults: nothing is set for them', (t) => {
  for (const parse of Object.values(parsers)) {
    t.deepEqual(parse([]).limits, { connection: {}, listen: {}, tls: undefined });
  }
});

test('the client takes the connection limits, and refuses the deadlines of a listener', (t) => {
  t.deepEqual(parseClientArgs(['--max-connections', '2', '--idle-timeout', '5s']).limits.connection, { maxConnections: 2, idleTimeoutMs: 5000 });
  t.deepEqual(parseClientArgs(['--write-timeout', '2s', '--max-queue-total', '1mb']).limits.connection, {
    writeTimeoutMs: 2000,
    maxQueuedBytesTotal: 1048576,
  });
  for (const flag of ['--first-message-timeout', '--handshake-timeout', '--secret']) {
    t.throws(() => parseClientArgs([flag, '1s']), { instanceOf: UsageError, message: new RegExp(`Unknown option '${flag}'`) });
  }
});

test('a deadline or the queue budget said off (or 0) is turned off, but the handshake deadline cannot be', (t) => {
  const { limits } = parseServerArgs([
    ...['--frame-timeout', 'off', '--idle-timeout', '0', '--heartbeat', 'OFF', '--first-message-timeout', 'off'],
    ...['--write-timeout', 'off', '--max-queue-total', 'off', '--max-inbound-total', 'off'],
  ]);
  t.deepEqual(limits.connection, {
    frameTimeoutMs: 0,
    idleTimeoutMs: 0,
    heartbeatMs: 0,
    writeTimeoutMs: 0,
    maxQueuedBytesTotal: 0,
    maxInboundBytesTotal: 0,
  });
  t.deepEqual(limits.listen, { firstMessageTimeoutMs: 0 });
  t.throws(() => parseServerArgs(['--handshake-timeout', 'off']), { instanceOf: UsageError, message: /^--handshake-timeout: expected a duration/ });
});

test('a bad value of any flag, on any subcommand, is refused with one line naming the flag', (t) => {
  const bad: Record<string, string> = {
    '--max-connections': '0',
    '--max-content': '10x',
    '--max-queue': 'lots',
    '--max-queue-total': 'all',
    '--max-inbound-total': '2 tons',
    '--write-timeout': 'soon',
    '--frame-timeout': '2 weeks',
    '--idle-timeout': '-1s',
    '--heartbeat': 's',
    '--first-message-timeout': '1y',
    '--handshake-timeout': '0',
  };
  for (const [kind, parse] of Object.entries(parsers)) {
    for (const [flag, value] of Object.entries(bad)) {
      if (kind === 'client' && (flag === '--first-message-timeout' || flag === '--handshake-timeout')) continue;
      const error = t.throws(() => parse([`${flag}=${value}`]), { instanceOf: UsageError }, `${kind} ${flag}`);
      t.true(error?.message.startsWith(`${flag}: expected `), `${kind}: ${error?.message}`);
      t.true(error?.message.includes(JSON.stringify(value)), `${kind}: ${error?.message}`);
      t.false(error?.message.includes('\n'));
    }
  }
  t.throws(() => parseServerArgs(['--max-connections', '1.5']), { message: /^--max-connections: expected a whole number >= 1, got "1\.5"$/ });
});

test('TLS flags: a listener needs a certificate and its key; a client may trust a CA alone', (t) => {
  t.deepEqual(parseServerArgs(['--tls-cert', 'c.pem', '--tls-key', 'k.pem']).limits.tls, { cert: 'c.pem', key: 'k.pem' });
  t.deepEqual(parseTrackerArgs(['--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--tls-ca', 'ca.pem']).limits.tls, { cert: 'c.pem', key: 'k.pem', ca: 'ca.pem' });
  t.deepEqual(parseClientArgs(['--tls-ca', 'ca.pem']).limits.tls, { ca: 'ca.pem' });
  t.throws(() => parseServerArgs(['--tls-ca', 'ca.pem']), { instanceOf: UsageError, message: '--tls-ca: listening with TLS needs --tls-cert and --tls-key too' });
  t.throws(() => parsers.peer(['--tls-cert', 'c.pem']), { instanceOf: UsageError, message: '--tls-cert: goes with --tls-key; give both' });
  t.throws(() => parseClientArgs(['--tls-key', 'k.pem']), { instanceOf: UsageError, message: '--tls-key: goes with --tls-cert; give both' });
  t.throws(() => parseClientArgs(['--tls-ca', '']), { instanceOf: UsageError, message: '--tls-ca: expected a file, got ""' });
});

test('the filer secret comes from --secret or --secret-file, never both, never empty', (t) => {
  t.deepEqual(parsers.tracker(['--secret', 'open sesame']).secret, { text: 'open sesame' });
  t.deepEqual(parsers.peer(['--secret-file', 'secret.txt']).secret, { file: 'secret.txt' });
  t.is(parsers.peer([]).secret, undefined);
  t.throws(() => parsers.peer(['--secret', 'a', '--secret-file', 'b']), { instanceOf: UsageError, message: '--secret and --secret-file: give one of them' });
  t.throws(() => parsers.tracker(['--secret', '']), { instanceOf: UsageError, message: '--secret: expected some text, got ""' });
});

gate(test, find(OPENSSL))('the files flags name are read at start; one that cannot be read or used is a usage error naming its flag', async (t) => {
  const certs = await makeCertificates();
  const dir = await mkdtemp(join(tmpdir(), 'rx-tcp-hub-flags-'));
  t.teardown(async () => {
    await certs.remove();
    await rm(dir, { recursive: true, force: true });
  });
  const file = async (name: string, content: string | Buffer) => {
    await writeFile(join(dir, name), content);
    return join(dir, name);
  };
  const cert = await file('cert.pem', certs.server.cert);
  const key = await file('key.pem', certs.server.key);
  const ca = await file('ca.pem', certs.ca);
  const junk = await file('junk.pem', 'not a certificate');
  const missing = join(dir, 'missing.pem');

  const material = await readTlsFiles({ cert, key, ca });
  t.deepEqual(listenTls(material), { cert: certs.server.cert, key: certs.server.key, ca: certs.ca, requestCert: true, rejectUnauthorized: true });
  t.deepEqual(dialTls(material), { ca: certs.ca, cert: certs.server.cert, key: certs.server.key });
  t.deepEqual(dialTls(await readTlsFiles({ ca })), { ca: certs.ca });

  await t.throwsAsync(readTlsFiles({ cert: missing, key }), { instanceOf: UsageError, message: `--tls-cert: cannot read ${JSON.stringify(missing)} (ENOENT)` });
  await t.throwsAsync(readTlsFiles({ cert, key: dir }), { instanceOf: UsageError, message: /^--tls-key: cannot read .* \(EISDIR\)$/ });
  await t.throwsAsync(readTlsFiles({ ca: junk }), { instanceOf: UsageError, message: /^--tls-ca: not usable for TLS \(/ });
  await t.throwsAsync(readTlsFiles({ cert: junk, key }), { instanceOf: UsageError, message: /^--tls-cert\/--tls-key: not usable for TLS \(/ });

  t.is(await readSecret({ file: await file('secret.txt', 'open sesame\n') }), 'open sesame');
  t.is(await readSecret({ text: 'as typed\n' }), 'as typed\n');
  t.is(await readSecret(undefined), undefined);
  await t.throwsAsync(readSecret({ file: missing }), { instanceOf: UsageError, message: /^--secret-file: cannot read .* \(ENOENT\)$/ });
  await t.throwsAsync(readSecret({ file: await file('empty.txt', '\n') }), { instanceOf: UsageError, message: /^--secret-file: .* is empty$/ });
});
