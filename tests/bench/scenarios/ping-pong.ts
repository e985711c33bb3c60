/**
 * One connection, one message in flight: the client sends `{type: ping, seq}`, the server
 * answers `{type: pong, seq}` and the client sends the next ping on receipt. Each round gives the
 * 50th and 99th percentile of its round trips. A round is short and its latencies move with where
 * the scheduler puts the two processes, so ping-pong takes three times the rounds of the others.
 */
import type { PingPongResult } from '../impls/types.js';
import { countErrors, openPair, quantile, type Scenario } from './scenario.js';

export function pingPong(sizes: { full: number; quick: number }): Scenario {
  return {
    id: 'ping-pong',
    title: 'ping-pong',
    holdsIdleStatesOff: true,
    metrics: [
      { key: 'p50', label: 'ping-pong p50', unit: 'µs', better: 'lower' },
      { key: 'p99', label: 'ping-pong p99', unit: 'µs', better: 'lower' },
    ],
    params: (context) => ({ roundTrips: context.quick ? sizes.quick : sizes.full, repeats: context.repeats * 3 }),
    rounds: (context) => context.repeats * 3,
    async open(impl, context, result) {
      const count = context.quick ? sizes.quick : sizes.full;
      const { client, stop } = await openPair({ scenario: 'ping-pong', impl, mode: 'ping-pong', connections: () => 1 }, context, result);
      const round = async (n: number): Promise<number[]> => {
        const got = await client.call<PingPongResult>({ cmd: 'pingPong', count: n }, context.timeoutMs);
        countErrors(result, got.errors, got.firstError);
        return got.rtts.map((ns) => ns / 1000).sort((a, b) => a - b);
      };
      try {
        await round(Math.ceil(count / 5)); // warm-up, not recorded
        return {
          round: async () => {
            const rtts = await round(count);
            result.samples['p50']!.push(quantile(rtts, 0.5));
            result.samples['p99']!.push(quantile(rtts, 0.99));
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
