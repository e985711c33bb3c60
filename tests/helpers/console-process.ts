/**
 * Runs `rx-tcp-hub <subcommand>` as a user would (through tsx, from the sources) with a piped
 * stdin, and reads its output line by line. Every wait is bounded, and the child is killed in the
 * test's teardown if it is still running.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { ReplaySubject, filter, firstValueFrom, from, map, take, throwError, throwIfEmpty, timeout } from 'rxjs';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The longest a single wait on a console may take. */
export const CONSOLE_WAIT_MS = 30_000;

/** A JSON line of a `--json` console. */
export type ConsoleLine = Record<string, unknown> & { event: string };

export interface ConsoleProcess {
  /** Types one line. */
  type(line: string): void;
  /** Ends stdin: the end of input. */
  end(): void;
  /** Sends the process a signal, e.g. `SIGTERM`. */
  signal(name: NodeJS.Signals): void;
  /** The next line, not matched before, satisfying `predicate`; fails after `ms`. */
  line(predicate: (line: string) => boolean, ms?: number): Promise<string>;
  /** The same over JSON lines: the next event whose fields equal every field of `fields`. */
  event(fields: Record<string, unknown>, ms?: number): Promise<ConsoleLine>;
  /** The next JSON event, not matched before, satisfying `predicate`. */
  eventWhere(what: string, predicate: (event: ConsoleLine) => boolean, ms?: number): Promise<ConsoleLine>;
  /** The exit status once the process ended and its output was read; fails after `ms`. */
  exit(ms?: number): Promise<number | null>;
  readonly stdout: string[];
  readonly stderr: string[];
  /** The process id, e.g. to read its memory from /proc. */
  readonly pid: number;
}

/** Spawns `rx-tcp-hub <args>` with piped stdin. */
export function spawnConsole(t: ExecutionContext, args: string[]): ConsoleProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', ...args], { cwd: root, stdio: 'pipe' });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const lines$ = new ReplaySubject<{ index: number; text: string }>();
  const matched = new Set<number>();
  createInterface({ input: child.stdout })
    .on('line', (text) => lines$.next({ index: stdout.push(text) - 1, text }))
    .on('close', () => lines$.complete());
  createInterface({ input: child.stderr }).on('line', (text) => stderr.push(text));
  child.stdin.on('error', () => {}); // a console that already quit may close its stdin first
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const transcript = () => `stdout:\n${stdout.join('\n')}\nstderr:\n${stderr.join('\n')}`;

  const line = (predicate: (text: string) => boolean, ms = CONSOLE_WAIT_MS, what = 'a matching line') =>
    firstValueFrom(
      lines$.pipe(
        filter(({ index, text }) => !matched.has(index) && predicate(text)),
        take(1),
        map(({ index, text }) => {
          matched.add(index);
          return text;
        }),
        throwIfEmpty(() => new Error(`output ended without ${what}; ${transcript()}`)),
        timeout({ first: ms, with: () => throwError(() => new Error(`waited ${ms} ms for ${what}; ${transcript()}`)) }),
      ),
    );

  return {
    type: (text) => void child.stdin.write(text + '\n'),
    end: () => child.stdin.end(),
    signal: (name) => void child.kill(name),
    line,
    event: async (fields, ms) => parseLine(await line((text) => matches(parseLine(text), fields), ms, `an event ${JSON.stringify(fields)}`))!,
    eventWhere: async (what, predicate, ms) =>
      parseLine(
        await line(
          (text) => {
            const event = parseLine(text);
            return event !== undefined && predicate(event);
          },
          ms,
          what,
        ),
      )!,
    exit: (ms = CONSOLE_WAIT_MS) =>
      firstValueFrom(from(closed).pipe(timeout({ first: ms, with: () => throwError(() => new Error(`waited ${ms} ms for the exit; ${transcript()}`)) }))),
    stdout,
    stderr,
    pid: child.pid!,
  };
}

/** A JSON console line, or undefined. */
export function parseLine(text: string): ConsoleLine | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && 'event' in value ? (value as ConsoleLine) : undefined;
  } catch {
    return undefined;
  }
}

function matches(event: ConsoleLine | undefined, fields: Record<string, unknown>): boolean {
  if (!event) return false;
  return Object.entries(fields).every(([key, value]) => JSON.stringify(event[key]) === JSON.stringify(value));
}
