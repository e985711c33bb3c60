/**
 * `rx-tcp-hub server` and `tracker` scaled out (`--workers N --redis URL`): N processes sharing the
 * port through `node:cluster`, joined through Redis (hubs by the bridge, trackers by one shared
 * peer table). They run without a console: each worker prints one line per event, prefixed with
 * its id, and the primary stops them all on SIGINT or SIGTERM.
 */
import { Tracker, type TrackerListenOptions } from '../filer/tracker.js';
import type { ServerOptions } from '../hub/server.js';
import type { ScaleFlags } from './cli-flags.js';
import { runClusterServer, runWorkers, type ClusterPrimary } from './cluster.js';
import { RedisPeerTable } from './peer-table.js';

/** Where the lines go; `console.log` by default. */
export type Print = (line: string) => void;

/**
 * Runs `scale.workers` bridged hubs on `options.port`. Each prints `[hubId] open id host:port`,
 * `[hubId] close id reason` and `[hubId] id: {key: value, ...}` for each message; the primary
 * prints `listening host:port, N workers through URL` once all listen.
 * @throws (rejects) when a worker cannot start (the port is taken, Redis is unreachable)
 */
export async function runScaledServer(scale: ScaleFlags, options: ServerOptions, print: Print = console.log): Promise<void> {
  const node = await runClusterServer({
    ...options,
    workers: scale.workers,
    redis: { url: scale.redis },
    setup: ({ server, bridge }) => {
      const tag = `[${bridge.hubId}]`;
      server.connections$.subscribe((e) =>
        print(e.type === 'open' ? `${tag} open ${e.messenger.id} ${e.messenger.addr.host}:${e.messenger.addr.port}` : `${tag} close ${e.messenger.id} ${e.reason.reason}`),
      );
      server.incoming$.subscribe(({ from, header }) => print(`${tag} ${from.id}: {${Object.entries(header).map(([k, v]) => `${k}: ${v}`).join(', ')}}`));
    },
  });
  if (node.role === 'primary') printListening(node, options, scale, print);
}

/**
 * Runs `scale.workers` trackers on `options.port`, sharing one peer table through Redis: a peer
 * listed by one is listed by all, and by any other tracker on the same Redis. Each prints
 * `[trackerId] join id host:port` and `[trackerId] leave id reason`.
 * @throws (rejects) when a worker cannot start
 */
export async function runScaledTracker(scale: ScaleFlags, options: TrackerListenOptions, print: Print = console.log): Promise<void> {
  const primary = await runWorkers({ workers: scale.workers }, async () => {
    const shared = await RedisPeerTable.connect({ url: scale.redis, ...pick(options) });
    const tracker = await Tracker.listen({ ...options, shared });
    const tag = `[${shared.trackerId}]`;
    tracker.events$.subscribe((e) => {
      if (e.type === 'join') print(`${tag} join ${e.peer.id} ${e.peer.host}:${e.peer.port}`);
      if (e.type === 'leave') print(`${tag} leave ${e.peer.id} ${e.reason}`);
    });
    return {
      port: tracker.server!.address.port,
      id: shared.trackerId,
      stop: async () => {
        await tracker.stop();
        await shared.close();
      },
    };
  });
  if (primary) printListening(primary, options, scale, print);
}

function pick(options: TrackerListenOptions): { expireMs?: number; refreshMs?: number } {
  return {
    ...(options.expireMs !== undefined ? { expireMs: options.expireMs } : {}),
    ...(options.intervalMs !== undefined ? { refreshMs: options.intervalMs } : {}),
  };
}

function printListening(primary: ClusterPrimary, options: ServerOptions, scale: ScaleFlags, print: Print): void {
  print(`listening ${options.host ?? '127.0.0.1'}:${primary.port}, ${scale.workers} worker(s) through ${scale.redis}: ${primary.hubIds.join(' ')}`);
}
