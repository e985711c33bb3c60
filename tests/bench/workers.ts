/**
 * The runner's handle on a worker process: spawned through `bash` so that the file limit can be
 * raised first (`ulimit -n`, as far as the hard limit allows), with an IPC channel over which
 * requests are answered one by one. Every wait has a deadline; a worker that misses one is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WORKER_ENV } from './build.js';
import type { ImplName } from './impls/index.js';
import type { Command, Hello, Reply, StopReport } from './ipc.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** The file limit asked for; where the hard limit is lower, the hard limit is taken. */
export const WANTED_FILE_LIMIT = 65536;
const RAISE_LIMIT = `ulimit -n ${WANTED_FILE_LIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"`;

export interface WorkerOptions {
  readonly impl: ImplName;
  readonly role: 'server' | 'client';
  /**
   * Where to write CPU profiles of this worker (`--cpu-prof`), if anywhere: one file per thread,
   * so tsx's loader thread gets its own, next to the main thread's.
   */
  readonly profileDir?: string | undefined;
}

export class Worker {
  readonly hello: Promise<Hello>;
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly exited: Promise<void>;
  private nextId = 1;
  private exitError: Error | undefined;

  constructor(readonly options: WorkerOptions) {
    // Compiled (see build.ts), the worker runs in plain node; else worker.ts through tsx.
    const compiled = process.env[WORKER_ENV];
    const nodeArgs = compiled ? ['--expose-gc', '--no-deprecation'] : ['--import', 'tsx', '--expose-gc', '--no-deprecation'];
    if (options.profileDir) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`);
    // Extra flags for the workers only (NODE_OPTIONS refuses some, --trace-gc say): a diagnostic aid.
    const extra = process.env['RX_TCP_HUB_BENCH_NODE_ARGS'];
    if (extra) nodeArgs.push(...extra.split(' ').filter(Boolean));
    nodeArgs.push(compiled ?? WORKER, options.impl, options.role);
    this.child = spawn('bash', ['-c', RAISE_LIMIT, process.execPath, ...nodeArgs], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitError = new Error(`${this.name} exited (${signal ?? `code ${code}`})`);
        for (const { reject } of this.pending.values()) reject(this.exitError);
        this.pending.clear();
        resolve();
      });
    });
    this.hello = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      void this.exited.then(() => reject(this.exitError));
      this.child.on('message', (message: Hello | Reply) => {
        if ('type' in message) return resolve(message);
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (!waiter) return;
        if (message.ok) waiter.resolve(message.result);
        else waiter.reject(new Error(`${this.name}: ${message.error}`));
      });
    });
  }

  get name(): string {
    return `${this.options.impl} ${this.options.role}`;
  }

  /** Sends one request and resolves with its answer; rejects after `timeoutMs` or if the worker dies. */
  call<T>(command: Command, timeoutMs: number): Promise<T> {
    if (this.exitError) return Promise.reject(this.exitError);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no answer to ${command.cmd} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.child.send({ ...command, id });
    });
  }

  /** Asks the worker to stop and report its peak RSS; kills it if it does not exit in time. */
  async stop(timeoutMs = 10_000): Promise<StopReport | undefined> {
    let report: StopReport | undefined;
    try {
      report = await this.call<StopReport>({ cmd: 'stop' }, timeoutMs);
    } catch {
      // Reported by the caller as a missing figure; the process is killed below.
    }
    const exited = await Promise.race([this.exited.then(() => true), delay(2000).then(() => false)]);
    if (!exited) this.kill();
    return report;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
