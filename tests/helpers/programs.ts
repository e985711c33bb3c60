/**
 * The programs beyond Node and npm that some tests need (redis-server, openssl, ...). A fresh
 * machine has none of them: each is looked for, and when it is missing the tests that need it are
 * skipped and the run says so, once, in one line that tells how to enable them. CI sets the
 * program's `REQUIRE_*` variable, under which a missing program fails the run instead.
 *
 * @example
 * const openssl = find(OPENSSL);
 * const tlsTest = gate(test, openssl);
 * tlsTest('a TLS client gets in', async (t) => { ... });
 */
import { accessSync, constants, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { TestFn } from 'ava';

/** A program some tests need, and how a user gets it. */
export interface Program {
  /** Short name, used in the skip line and the marker that prints it once per run. */
  readonly name: string;
  /** What the tests that need it cover. */
  readonly covers: string;
  /** Executables to look for on PATH, in order. */
  readonly executables: readonly string[];
  /** An environment variable that points at a running server instead (REDIS_URL), if any. */
  readonly urlVariable?: string | undefined;
  /** Set to 1 (CI does), a missing program fails the run instead of skipping. */
  readonly requireVariable: string;
  /** How to enable the tests. */
  readonly enable: string;
}

export const REDIS: Program = {
  name: 'redis',
  covers: 'the Redis tests (tests/redis-*.test.ts)',
  executables: ['redis-server', 'valkey-server'],
  urlVariable: 'REDIS_URL',
  requireVariable: 'REQUIRE_REDIS',
  enable: 'apt-get install redis-server, or set REDIS_URL=redis://host:port (a throwaway server: the tests write keys)',
};

/** For the tests that stop and restart a Redis of their own: REDIS_URL's server cannot be. */
export const REDIS_SERVER: Program = {
  ...REDIS,
  name: 'redis-server',
  covers: 'the Redis outage tests (they stop and restart a redis-server of their own)',
  urlVariable: undefined,
  enable: 'apt-get install redis-server',
};

export const OPENSSL: Program = {
  name: 'openssl',
  covers: 'the TLS tests (certificates are made with openssl)',
  executables: ['openssl'],
  requireVariable: 'REQUIRE_OPENSSL',
  enable: 'apt-get install openssl',
};

/** What was found: an executable's path, or the URL of a running server. */
export type Found =
  | { readonly kind: 'executable'; readonly path: string }
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'missing'; readonly line: string };

/** Thrown when a program is missing and its `REQUIRE_*` variable is set. */
export class MissingProgramError extends Error {
  override readonly name = 'MissingProgramError';
  readonly code = 'ERR_MISSING_PROGRAM';
}

/** The first of `names` that is an executable file in one of PATH's folders. */
export function onPath(names: readonly string[], path = process.env['PATH'] ?? ''): string | undefined {
  for (const name of names) {
    for (const dir of path.split(delimiter)) {
      if (dir === '') continue;
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** The one line a run prints when `program` is missing. */
export function skipLine(program: Program): string {
  const looked = [program.urlVariable ? `no ${program.urlVariable}` : undefined, `no ${program.executables.join(' or ')} on PATH`].filter(Boolean).join(', ');
  return `skipped ${program.covers}: ${looked}. To run them: ${program.enable}.`;
}

/**
 * Looks for `program`: its URL variable first, then PATH. Missing, it throws `MissingProgramError`
 * when the program's `REQUIRE_*` variable is set, and otherwise reports it missing and, for the
 * process's own environment, prints the skip line (once per test run: ava's workers share its
 * process id as their parent's).
 */
export function find(program: Program, env: NodeJS.ProcessEnv = process.env): Found {
  const url = program.urlVariable ? env[program.urlVariable] : undefined;
  if (url) return { kind: 'url', url };
  const path = onPath(program.executables, env['PATH'] ?? '');
  if (path) return { kind: 'executable', path };
  const line = skipLine(program);
  if (env[program.requireVariable] === '1') {
    throw new MissingProgramError(`${program.requireVariable}=1, but ${line.replace(/^skipped /, 'nothing to run ')}`);
  }
  if (env === process.env) printOnce(program.name, line); // a test of find itself, with an env of its own, prints nothing
  return { kind: 'missing', line };
}

function printOnce(name: string, line: string): void {
  try {
    closeSync(openSync(join(tmpdir(), `rx-tcp-hub-skip-${name}-${process.ppid}`), 'wx'));
  } catch {
    return; // another test file of this run said it already
  }
  console.log(line);
}

/**
 * `test` itself when the program was found; otherwise a stand-in that declares every test as
 * skipped and every hook as nothing, so a file can be written as if the program were there.
 */
export function gate<Context>(test: TestFn<Context>, found: Found): TestFn<Context> {
  if (found.kind !== 'missing') return test;
  const nothing = () => {};
  const hooks = Object.assign(() => {}, { always: Object.assign(() => {}, { skip: nothing }), skip: nothing });
  const skipping = Object.assign((title: string, ...rest: unknown[]) => (test.skip as (...a: unknown[]) => void)(title, ...rest), {
    serial: Object.assign((title: string, ...rest: unknown[]) => (test.serial.skip as (...a: unknown[]) => void)(title, ...rest), {
      skip: test.serial.skip,
      before: hooks,
      after: hooks,
      beforeEach: hooks,
      afterEach: hooks,
    }),
    skip: test.skip,
    before: hooks,
    after: hooks,
    beforeEach: hooks,
    afterEach: hooks,
    todo: test.todo,
    meta: test.meta,
  });
  return skipping as unknown as TestFn<Context>;
}
