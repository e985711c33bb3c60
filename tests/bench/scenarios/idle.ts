/**
 * The cost of connections that carry nothing: the server's memory (RSS and JS heap, after a full
 * GC) before the client opens `target` connections and once they are all open, divided by the
 * number reached. Each repeat is a fresh process pair. The number reached is bounded by the file
 * limit the processes got (the runner raises it as far as the hard limit allows).
 */
import type { Hello, MemorySample } from '../ipc.js';
import { delay } from '../workers.js';
import { openPair, type PairOptions, type RunContext, type Scenario } from './scenario.js';

/** File descriptors kept free for everything else a process opens. */
const SPARE_FILES = 100;

export function idle(sizes: { full: number; quick: number }): Scenario {
  return {
    id: 'idle',
    title: 'idle connections',
    metrics: [
      { key: 'rss', label: 'idle: server RSS / conn', unit: 'bytes', better: 'lower' },
      { key: 'heap', label: 'idle: server heap / conn', unit: 'bytes', better: 'lower' },
    ],
    params: (context) => ({ connections: context.quick ? sizes.quick : sizes.full, repeats: idleRepeats(context) }),
    rounds: idleRepeats,
    async open(impl, context, result) {
      const target = context.quick ? sizes.quick : sizes.full;
      const reached: number[] = [];
      const clientRss: number[] = [];
      result.extra['connectionsReached'] = reached;
      result.extra['clientRssPerConnection'] = clientRss;
      const round = async (): Promise<void> => {
        let before: MemorySample | undefined;
        let clientBefore: MemorySample | undefined;
        let limits = '';
        const options: PairOptions = {
          scenario: 'idle',
          impl,
          mode: 'idle',
          connections: (server: Hello, client: Hello) => {
            limits = `file limit ${server.fileLimit ?? 'unlimited'} (server), ${client.fileLimit ?? 'unlimited'} (client)`;
            return Math.min(target, (server.fileLimit ?? Infinity) - SPARE_FILES, (client.fileLimit ?? Infinity) - SPARE_FILES);
          },
          beforeConnect: async (server, client) => {
            before = await server.call<MemorySample>({ cmd: 'memory' }, context.timeoutMs);
            clientBefore = await client.call<MemorySample>({ cmd: 'memory' }, context.timeoutMs);
          },
        };
        const { server, client, connected, stop } = await openPair(options, context, result);
        try {
          if (connected.failed > 0) result.notes.push(`${connected.failed} dials failed: ${connected.firstError}`);
          await delay(300); // let the last accepts and handshakes settle
          const after = await server.call<MemorySample>({ cmd: 'memory' }, context.timeoutMs);
          const clientAfter = await client.call<MemorySample>({ cmd: 'memory' }, context.timeoutMs);
          const n = connected.opened;
          result.samples['rss']!.push((after.rss - before!.rss) / n);
          result.samples['heap']!.push((after.heapUsed - before!.heapUsed) / n);
          clientRss.push((clientAfter.rss - clientBefore!.rss) / n);
          if (reached.length === 0) result.notes.push(`reached ${n} of ${target} connections; ${limits}`);
          reached.push(n);
        } finally {
          await stop();
        }
      };
      // Each round is a fresh process pair, so there is nothing to warm up or keep open.
      return { round, close: async () => {} };
    },
  };
}

/** A fresh pair and `target` dials per repeat: three are plenty for a figure this stable, one in quick mode. */
function idleRepeats(context: RunContext): number {
  return Math.min(context.repeats, context.quick ? 1 : 3);
}
