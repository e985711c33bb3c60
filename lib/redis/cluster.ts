/**
 * Multi-core on one machine: N hub processes share one port through `node:cluster` (the primary
 * accepts and hands each connection to a worker in turn) and are joined through Redis, so a
 * broadcast, the list of connections or a tracker's peer table spans them all. The same script
 * runs as primary and as each worker; `runClusterServer` does the right thing in each.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { InvalidOptionError } from '../errors.js';
import type { ServerOptions } from '../hub/server.js';
import { listenBridged, type BridgedOptions, type BridgedServer } from './listen.js';

/** How the workers are run. */
export interface WorkerOptions {
  /** Worker processes. Default: the machine's cores (`os.availableParallelism()`). */
  readonly workers?: number;
  /** Start a new worker when one exits that was not asked to stop. Default true. */
  readonly restart?: boolean;
  /** How long the workers have to start (listen and join Redis). Default 30 s. */
  readonly startTimeoutMs?: number;
}

export interface ClusterServerOptions extends ServerOptions, WorkerOptions {
  /** The bridge's options (`url`, `namespace`, ...); each worker gets a random hub id. */
  readonly redis?: BridgedOptions;
  /** Runs in each worker once its hub listens and its bridge is online: subscribe to its streams here. */
  readonly setup?: (node: BridgedServer) => void | Promise<void>;
}

/** What the primary process gets. */
export interface ClusterPrimary {
  readonly role: 'primary';
  /** The port every worker listens on. */
  readonly port: number;
  /** The ids of the workers started so far (hub ids, for `runClusterServer`). */
  readonly hubIds: readonly string[];
  /** Stops every worker (each stops its hub, and its bridge leaves the cluster) and resolves when all have exited. */
  stop(): Promise<void>;
}

/** What `runClusterServer` gives a worker process. */
export interface ClusterWorker extends BridgedServer {
  readonly role: 'worker';
}

/** What a worker started: the port it listens on, its id, and how to stop it. */
export interface StartedWorker {
  readonly port: number;
  readonly id: string;
  stop(): Promise<void>;
}

interface ReadyMessage {
  readonly type: 'rx-tcp-hub:ready';
  readonly port: number;
  readonly id: string;
}
const STOP_MESSAGE = 'rx-tcp-hub:stop';

/**
 * Runs a bridged hub on each of `workers` processes, all on one port. In the primary it forks the
 * workers and resolves once all of them listen, with `stop()`; SIGINT and SIGTERM stop them too.
 * In a worker it listens, joins Redis, runs `setup`, and resolves with the server and bridge.
 *
 * @example
 * // server.ts, run with `node server.js`: one primary, four hubs on port 5000, one cluster.
 * await runClusterServer({
 *   workers: 4, host: '0.0.0.0', port: 5000, redis: { url: 'redis://127.0.0.1:6379' },
 *   setup: ({ bridge }) => bridge.incoming$.subscribe(({ header }) => void bridge.broadcast(header)),
 * });
 */
export async function runClusterServer(options: ClusterServerOptions = {}): Promise<ClusterPrimary | ClusterWorker> {
  const { workers, restart, startTimeoutMs, redis = {}, setup, ...serverOptions } = options;
  let node: BridgedServer | undefined;
  const primary = await runWorkers({ workers, restart, startTimeoutMs }, async () => {
    node = await listenBridged(serverOptions, redis);
    await setup?.(node);
    return { port: node.server.address.port, id: node.bridge.hubId, stop: () => node!.server.stop() };
  });
  return primary ?? { role: 'worker', ...node! };
}

/**
 * The cluster machinery alone: in the primary, forks `workers` copies of this script and resolves
 * once each has called back from `start` (a listening port and an id), with `stop()`; in a worker,
 * runs `start`, tells the primary, stops on its word, and resolves with undefined.
 * @throws InvalidOptionError for a count of workers that is not a whole number >= 1
 */
export async function runWorkers(options: WorkerOptions, start: () => Promise<StartedWorker>): Promise<ClusterPrimary | undefined> {
  const { workers = availableParallelism(), restart = true, startTimeoutMs = 30_000 } = options;
  if (!Number.isSafeInteger(workers) || workers < 1) throw new InvalidOptionError('workers', workers, 'a whole number >= 1');
  if (cluster.isWorker) {
    const started = await start();
    process.on('message', (message) => {
      if (message === STOP_MESSAGE) void started.stop().then(() => process.exit(0));
    });
    process.send?.({ type: 'rx-tcp-hub:ready', port: started.port, id: started.id } satisfies ReadyMessage);
    return undefined;
  }
  return startPrimary(workers, restart, startTimeoutMs);
}

async function startPrimary(count: number, restart: boolean, startTimeoutMs: number): Promise<ClusterPrimary> {
  const ids: string[] = [];
  const live = new Set<Worker>();
  let stopping: Promise<void> | undefined;
  let port = 0;
  const fork = () =>
    new Promise<void>((resolve, reject) => {
      const worker = cluster.fork();
      live.add(worker);
      const timer = setTimeout(() => reject(new Error(`a cluster worker did not start within ${startTimeoutMs} ms`)), startTimeoutMs);
      worker.on('message', (message: ReadyMessage) => {
        if (message?.type !== 'rx-tcp-hub:ready') return;
        clearTimeout(timer);
        port = message.port;
        ids.push(message.id);
        resolve();
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        live.delete(worker);
        if (stopping) return;
        if (restart) void fork().catch(() => {});
        reject(new Error(`a cluster worker exited with ${code} before it was ready`));
      });
    });
  const stop = (): Promise<void> =>
    (stopping ??= Promise.all(
      [...live].map(
        (worker) =>
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => worker.kill('SIGKILL'), 10_000);
            worker.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            worker.send(STOP_MESSAGE);
          }),
      ),
    ).then(() => undefined));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop().then(() => process.exit(0)));
  try {
    await Promise.all(Array.from({ length: count }, fork));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    role: 'primary',
    get port() {
      return port;
    },
    hubIds: ids,
    stop,
  };
}
