/**
 * A real `redis-server` for the Redis tests (no mocks): on a free loopback port, with a throwaway
 * directory and no persistence. A test file starts one, and stops it in `test.after.always`; it can
 * be stopped and started again on the same port mid-test, to play a Redis outage.
 *
 * @example
 * const redis = await startRedis();
 * test.after.always(() => redis.close());
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Found } from './programs.js';

/** How long a start or a stop may take before it fails. */
const LIMIT_MS = 10_000;

export interface RedisProcess {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** True between a start and a stop. */
  readonly running: boolean;
  /** Stops the server (SIGTERM; SIGKILL if it lingers). The port stays this server's for `start`. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty (nothing is persisted). */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once something accepts TCP connections on the port. */
async function accepting(port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not accept connections on port ${port} within ${LIMIT_MS} ms`);
    await sleep(20);
  }
}

/**
 * The Redis a test file shares: `REDIS_URL`'s server, or a server started as `startRedis` does.
 * When none was found (`find(REDIS)` printed the skip line) it is a stand-in that no test uses,
 * since `gate` skipped them all.
 */
export async function useRedis(found: Found): Promise<RedisProcess> {
  if (found.kind === 'executable') return startRedis(found.path);
  const url = found.kind === 'url' ? found.url : 'redis://127.0.0.1:0';
  const external = async () => {
    throw new Error('a Redis given by REDIS_URL cannot be stopped or started by the tests');
  };
  return { url, port: Number(new URL(url).port || 6379), running: found.kind === 'url', stop: external, start: external, close: async () => {} };
}

/** Starts `redis-server` (or the executable given, valkey-server say) on a free port of 127.0.0.1. */
export async function startRedis(executable = 'redis-server'): Promise<RedisProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'rx-tcp-hub-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const start = async (): Promise<void> => {
    if (child) return;
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'];
    const spawned = spawn(executable, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    spawned.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child = spawned;
    exited = new Promise((resolve) => spawned.once('exit', () => resolve()));
    const failed = new Promise<never>((_, reject) => {
      spawned.once('error', reject);
      spawned.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${stderr}`)));
    });
    await Promise.race([accepting(port, Date.now() + LIMIT_MS), failed]);
    failed.catch(() => {}); // a later exit is a stop, not a failure
  };

  const stop = async (): Promise<void> => {
    const running = child;
    if (!running) return;
    child = undefined;
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), LIMIT_MS / 2);
    await exited;
    clearTimeout(timer);
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get running() {
      return child !== undefined;
    },
    start,
    stop,
    async close() {
      await stop();
      process.off('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
