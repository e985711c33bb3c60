/**
 * One connection, client to server, as fast as backpressure lets the sender go: `count` messages
 * `{type: chat, seq, from: peer-1}` with `size` content bytes. A round is timed from the client's
 * first send to the server's receipt of the last message (one clock for both processes). Round
 * sizes follow the warm-up's rate (see `roundSize`).
 */
import type { Collected, Timed } from '../ipc.js';
import { countErrors, openPair, roundSize, warmUpSize, type Scenario } from './scenario.js';

export interface ThroughputSizes {
  readonly size: number;
  readonly full: number;
  readonly quick: number;
  /** Measured rounds per `repeats` (default 1): the rows whose rounds spread the most take more. */
  readonly roundsPerRepeat?: number;
  /** See `Scenario.roundsPerPair`. */
  readonly roundsPerPair?: number;
}

/**
 * A measured round, as the JSON keeps it. The server's CPU time (all threads) and minor page faults
 * per message move far less from run to run than the rate does, and say where a gap lies.
 */
interface Round {
  messages: number;
  seconds: number;
  serverCpuUsPerMessage: number;
  serverFaultsPerMessage: number;
}

export function throughput(id: string, title: string, sizes: ThroughputSizes): Scenario {
  const messages = sizes.size === 0;
  const key = messages ? 'rate' : 'mbps';
  const scenario: Scenario = {
    id,
    title,
    metrics: [messages ? { key, label: title, unit: 'msg/s', better: 'higher' } : { key, label: title, unit: 'MB/s', better: 'higher' }],
    params: (context) => ({
      maxMessages: context.quick ? sizes.quick : sizes.full,
      contentBytes: sizes.size,
      repeats: context.repeats * (sizes.roundsPerRepeat ?? 1),
    }),
    rounds: (context) => context.repeats * (sizes.roundsPerRepeat ?? 1),
    ...(sizes.roundsPerPair !== undefined ? { roundsPerPair: sizes.roundsPerPair } : {}),
    async open(impl, context, result) {
      const count = context.quick ? sizes.quick : sizes.full;
      const { server, client, stop } = await openPair({ scenario: id, impl, mode: 'throughput', connections: () => 1 }, context, result);
      // Every pair's rounds in one list (a scenario may open several pairs: see roundsPerPair).
      const rounds = (result.extra['rounds'] ??= []) as Round[];
      const round = async (n: number): Promise<Round> => {
        await server.call({ cmd: 'arm', type: 'chat', size: sizes.size, total: n }, context.timeoutMs);
        const sending = client.call<Timed>({ cmd: 'send', count: n, size: sizes.size }, context.timeoutMs);
        const [got, sent] = await Promise.all([server.call<Collected>({ cmd: 'collect' }, context.timeoutMs), sending]);
        countErrors(result, got.errors + sent.errors, got.firstError ?? sent.firstError);
        return {
          messages: n,
          seconds: (got.t1 - sent.t0) / 1e9,
          serverCpuUsPerMessage: got.usage.cpuUs / n,
          serverFaultsPerMessage: got.usage.minorFaults / n,
        };
      };
      try {
        const n = roundSize(count, await round(warmUpSize(count)), context); // the warm-up is not recorded
        return {
          round: async () => {
            const measured = await round(n);
            rounds.push(measured);
            const perSecond = measured.messages / measured.seconds;
            result.samples[key]!.push(messages ? perSecond : (perSecond * sizes.size) / 1e6);
          },
          close: stop,
        };
      } catch (error) {
        await stop();
        throw error;
      }
    },
  };
  return scenario;
}
