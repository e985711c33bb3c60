/**
 * One server, `connections` clients (all in one client process): the server broadcasts `count`
 * messages `{type: news, seq}`, each to every connection, as fast as backpressure lets it. A round
 * is timed from the first broadcast to the last delivery on any connection; every connection
 * checks its own order.
 */
import type { Timed } from '../ipc.js';
import type { TallyResult } from '../shared/tally.js';
import { countErrors, openPair, roundSize, warmUpSize, type Scenario } from './scenario.js';

export function broadcast(sizes: { connections: number; full: number; quick: number }): Scenario {
  return {
    id: 'broadcast',
    title: `broadcast to ${sizes.connections}`,
    metrics: [{ key: 'rate', label: `broadcast to ${sizes.connections}`, unit: 'deliveries/s', better: 'higher' }],
    params: (context) => ({ connections: sizes.connections, maxMessages: context.quick ? sizes.quick : sizes.full, repeats: context.repeats }),
    async open(impl, context, result) {
      const count = context.quick ? sizes.quick : sizes.full;
      const options = { scenario: 'broadcast', impl, mode: 'broadcast' as const, connections: () => sizes.connections };
      const { server, client, connected, stop } = await openPair(options, context, result);
      const rounds: { messages: number; seconds: number }[] = [];
      result.extra['rounds'] = rounds;
      const round = async (n: number): Promise<{ messages: number; seconds: number }> => {
        await client.call({ cmd: 'arm', type: 'news', size: 0, total: n * connected.opened }, context.timeoutMs);
        const sending = server.call<Timed>({ cmd: 'broadcast', count: n }, context.timeoutMs);
        const [got, sent] = await Promise.all([client.call<TallyResult>({ cmd: 'collect' }, context.timeoutMs), sending]);
        countErrors(result, got.errors + sent.errors, got.firstError ?? sent.firstError);
        return { messages: n, seconds: (got.t1 - sent.t0) / 1e9 };
      };
      try {
        if (connected.opened !== sizes.connections) {
          throw new Error(`opened ${connected.opened} of ${sizes.connections} connections: ${connected.firstError}`);
        }
        const n = roundSize(count, await round(warmUpSize(count)), context); // the warm-up is not recorded
        return {
          round: async () => {
            const measured = await round(n);
            rounds.push(measured);
            result.samples['rate']!.push((measured.messages * connected.opened) / measured.seconds);
          },
          close: stop,
        };
      } catch (error) {
        await stop();
        throw error;
      }
    },
  };
}
