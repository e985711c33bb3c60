/**
 * Smoke tests of the playground: every script in `playground/` (the demo included) runs in a child
 * process, as a user would run it, and must exit 0 by itself within a bounded time.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const playground = join(root, 'playground');
/** Far above what any script needs (about a second each); a script past it is killed and fails. */
const LIMIT_MS = 30_000;

const scripts = readdirSync(playground)
  .filter((name) => name.endsWith('.ts') && name !== 'helpers.ts')
  .sort();

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** Runs one script with `node --import tsx`, killing it if it outlives `LIMIT_MS`. */
function run(script: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join('playground', script)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, LIMIT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

test('the playground has the scripts the issue asks for, and the demo', (t) => {
  for (const name of ['01-echo-server.ts', '02-chat-relay.ts', '03-custom-operators.ts', '04-testing-in-memory.ts', 'demo.ts']) {
    t.true(scripts.includes(name), `playground/${name} is missing`);
  }
  t.true(
    scripts.filter((name) => name !== 'demo.ts').every((name) => /^\d\d-[a-z0-9-]+\.ts$/.test(name)),
    'notebook scripts are named NN-topic.ts',
  );
});

test('every playground script opens with the command that runs it', (t) => {
  for (const name of scripts) {
    const first = readFileSync(join(playground, name), 'utf8').split('\n', 1)[0]!;
    const command = name === 'demo.ts' ? /^\/\/ Run: npm start\b/ : new RegExp(`^// Run: npx tsx playground/${name.replace('.', '\\.')}$`);
    t.regex(first, command, `playground/${name}`);
  }
});

for (const script of scripts) {
  test(`playground/${script} runs to the end by itself, prints what it shows and exits with status 0`, async (t) => {
    t.timeout(LIMIT_MS + 5_000);
    const result = await run(script);
    const output = `--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
    t.false(result.timedOut, `killed after ${LIMIT_MS} ms\n${output}`);
    t.is(result.code, 0, output);
    t.true(result.stdout.trim().split('\n').length >= 5, output);
  });
}
