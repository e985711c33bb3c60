/**
 * The programs beyond Node and npm that tests need (tests/helpers/programs.ts): found on PATH or
 * through REDIS_URL, skipped with one line when missing, and a failure when CI requires them. The
 * last tests run ava itself on the Redis test files with a PATH that holds only `node`, as on a
 * fresh machine.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { find, MissingProgramError, onPath, REDIS, REDIS_SERVER, skipLine } from './helpers/programs.js';

/** A folder for PATH holding the given executables (empty scripts) or links. */
function binDir(t: { teardown(fn: () => void): void }, files: Record<string, string | undefined>): string {
  const dir = mkdtempSync(join(tmpdir(), 'rx-tcp-hub-bin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, target] of Object.entries(files)) {
    if (target) symlinkSync(target, join(dir, name));
    else {
      writeFileSync(join(dir, name), '#!/bin/sh\n');
      chmodSync(join(dir, name), 0o755);
    }
  }
  return dir;
}

test('a program on PATH is found by its first executable that exists, and a file that cannot run is not', (t) => {
  const dir = binDir(t, { 'valkey-server': undefined });
  writeFileSync(join(dir, 'redis-server'), 'not executable');
  t.is(onPath(['redis-server', 'valkey-server'], dir), join(dir, 'valkey-server'));
  t.deepEqual(find(REDIS, { PATH: dir }), { kind: 'executable', path: join(dir, 'valkey-server') });
});

test('REDIS_URL is taken before PATH, unless the tests must start a server of their own', (t) => {
  const dir = binDir(t, { 'redis-server': undefined });
  const env = { PATH: dir, REDIS_URL: 'redis://127.0.0.1:6390' };
  t.deepEqual(find(REDIS, env), { kind: 'url', url: 'redis://127.0.0.1:6390' });
  t.deepEqual(find(REDIS_SERVER, env), { kind: 'executable', path: join(dir, 'redis-server') });
});

test('a missing program is reported with the line that says what is skipped and how to enable it', (t) => {
  const found = find(REDIS, { PATH: binDir(t, {}) });
  t.deepEqual(found, { kind: 'missing', line: skipLine(REDIS) });
  t.regex(skipLine(REDIS), /^skipped the Redis tests .*no REDIS_URL, no redis-server or valkey-server on PATH\. To run them: apt-get install redis-server, or set REDIS_URL=/);
});

test('a missing program fails with MissingProgramError when its REQUIRE_ variable is 1', (t) => {
  const error = t.throws(() => find(REDIS, { PATH: binDir(t, {}), REQUIRE_REDIS: '1' }), { instanceOf: MissingProgramError });
  t.is(error?.code, 'ERR_MISSING_PROGRAM');
  t.regex(error!.message, /^REQUIRE_REDIS=1, but nothing to run the Redis tests/);
});

/** ava on some test files, with a PATH that holds only node: exit code and everything printed. */
function avaWithoutPrograms(t: { teardown(fn: () => void): void }, files: string[], env: Record<string, string> = {}) {
  const path = binDir(t, { node: process.execPath });
  const cli = join(createRequire(import.meta.url).resolve('ava'), '..', 'cli.mjs');
  const { REDIS_URL: _url, REQUIRE_REDIS: _required, ...rest } = process.env;
  const child = spawn(process.execPath, [cli, ...files], { env: { ...rest, ...env, PATH: path }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
  return new Promise<{ code: number | null; out: string }>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    }),
  );
}

const redisFiles = ['tests/redis-peer-table.test.ts', 'tests/redis-cluster.test.ts'];

test('on a machine without Redis the Redis test files pass with their tests skipped, and the run says so once', async (t) => {
  t.timeout(60_000);
  const { code, out } = await avaWithoutPrograms(t, redisFiles);
  t.is(code, 0, out);
  t.is(out.split(skipLine(REDIS)).length - 1, 1, out);
  t.regex(out, /\[skip\] redis-peer-table/);
  t.notRegex(out, /✔ redis-/);
});

test('with REQUIRE_REDIS=1 a machine without Redis fails the run, naming what is missing', async (t) => {
  t.timeout(60_000);
  const { code, out } = await avaWithoutPrograms(t, redisFiles, { REQUIRE_REDIS: '1' });
  t.not(code, 0, out);
  t.regex(out, /MissingProgramError: REQUIRE_REDIS=1, but nothing to run the Redis tests/);
});
