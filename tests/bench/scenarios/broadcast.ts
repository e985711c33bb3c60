/**
 * One server, `connections` clients (all in one client process): the server broadcasts `count`
 * messages `{type: news, seq}`, each to every connection, as fast as backpressure lets it (the
 * pacing rule of `shared/fan-out.ts`, where the implementation can read its unsent bytes). A round
 * is timed from the first broadcast to the last delivery on any connection; every connection
 * checks its own order.
 *
 * Memory: the server's resident set is read once all connections are open and idle (after a full
 * GC), and its high-water mark over each measured round (see `PeakRss`); the row is
 * (peak - idle) / connections.
 *
 * With `stalledPercent`, every measured round is two: one as above (none stalled), and one in which
 * the same pair of processes also has that share of `connections` more peers that stop reading
 * (`BenchClient.stall`), the order of the two alternating from round to round. Those peers are
 * opened for the round and destroyed after it; before it, their kernel buffers are filled
 * (`BenchServer.fill`: on loopback small frames would take minutes to) and one unmeasured broadcast
 * lets the pacing find them slow, so the measured broadcasts all meet them full and stalled. The
 * row `stalled / none` is the ratio of the two delivery rates to the same readers, round by round:
 * one pair of processes measures both, since a pair keeps its own speed for its whole life.
 */
import type { ImplName } from '../impls/index.js';
import type { FillResult } from '../impls/types.js';
import type { MemorySample, PeakRss, Timed } from '../ipc.js';
import type { PaceStats } from '../shared/fan-out.js';
import type { TallyResult } from '../shared/tally.js';
import { delay } from '../workers.js';
import { countErrors, openPair, roundSize, warmUpSize, type ImplResult, type Metric, type OpenPair, type RunContext, type Scenario } from './scenario.js';

export interface BroadcastSizes {
  /** The scenario's id for `--only`; default `broadcast`. */
  readonly id?: string;
  readonly connections: number;
  /** Connections in `--quick` mode; default `connections`. */
  readonly quickConnections?: number;
  /** Most broadcasts a measured round sends (see `roundSize`); with `fixed`, exactly that many. */
  readonly full: number;
  readonly quick: number;
  /**
   * Every measured round sends `full` (`quick`) broadcasts, whatever the warm-up's rate: both
   * implementations then do the same work, and a round can be made long enough for the pacing to
   * engage (more than a window per connection) instead of ending within one burst.
   */
  readonly fixed?: { readonly warmUp: number; readonly quickWarmUp: number; readonly maxRounds?: number; readonly quickMaxRounds?: number };
  /** Stalled peers, in percent of `connections`, added in every other round (see above). */
  readonly stalledPercent?: number;
  /** Only these implementations (default: every one the run names). */
  readonly impls?: readonly ImplName[];
}

/** One measured round, as the JSON keeps it. */
interface Round {
  stalled: number;
  messages: number;
  seconds: number;
  /** Deliveries per second to the connections that read. */
  rate: number;
  /** (server's peak RSS over the round - its idle RSS) / connections that read, bytes. */
  rssPerConnection: number;
  peakRssMiB: number;
  pace?: PaceStats | undefined;
  refused: number;
  /** Connections the server broadcast to at the round's end. */
  targets?: number | undefined;
  fill?: FillResult;
}

const labelled = (n: number): string => n.toLocaleString('en-US');
const mib = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;

export function broadcast(sizes: BroadcastSizes): Scenario {
  const id = sizes.id ?? 'broadcast';
  const connectionsIn = (context: RunContext): number => (context.quick ? (sizes.quickConnections ?? sizes.connections) : sizes.connections);
  const roundsIn = (context: RunContext): number =>
    Math.min(context.repeats, (context.quick ? sizes.fixed?.quickMaxRounds : sizes.fixed?.maxRounds) ?? Infinity);
  const stalledOf = (connections: number): number => Math.round(((sizes.stalledPercent ?? 0) / 100) * connections);
  const reduced = sizes.quickConnections !== undefined && sizes.quickConnections !== sizes.connections;
  const title = `broadcast to ${labelled(sizes.connections)}${reduced ? ` (quick: ${labelled(sizes.quickConnections!)})` : ''}`;
  const metrics: Metric[] = [
    { key: 'rate', label: title, unit: 'deliveries/s', better: 'higher' },
    { key: 'rss', label: `${title}: server mem / conn`, unit: 'bytes', better: 'lower' },
  ];
  const stalledLabel = `${labelled(stalledOf(sizes.connections))} stalled`;
  if (sizes.stalledPercent) {
    metrics.push(
      { key: 'stalledRate', label: `${title} + ${stalledLabel}`, unit: 'deliveries/s', better: 'higher' },
      { key: 'stallRatio', label: `${title}: ${stalledLabel} / none`, unit: '×', better: 'higher' },
    );
  }
  return {
    id,
    title,
    metrics,
    ...(sizes.impls ? { impls: sizes.impls } : {}),
    rounds: roundsIn,
    params: (context) => ({
      connections: connectionsIn(context),
      [sizes.fixed ? 'messages' : 'maxMessages']: context.quick ? sizes.quick : sizes.full,
      repeats: roundsIn(context),
      ...(sizes.stalledPercent ? { stalledConnections: stalledOf(connectionsIn(context)) } : {}),
    }),
    async open(impl, context, result) {
      const count = context.quick ? sizes.quick : sizes.full;
      const connections = connectionsIn(context);
      const stalled = stalledOf(connections);
      const pair = await openPair({ scenario: id, impl, mode: 'broadcast', connections: () => connections }, context, result);
      try {
        if (pair.connected.opened !== connections) {
          throw new Error(`opened ${pair.connected.opened} of ${connections} connections: ${pair.connected.firstError}`);
        }
        await delay(300); // let the last accepts and handshakes settle
        const idle = await pair.server.call<MemorySample>({ cmd: 'memory' }, context.timeoutMs);
        const side: Side = { pair, connections, idleRss: idle.rss, context, result };
        const rounds: Round[] = [];
        result.extra['idleServerRssMiB'] = mib(idle.rss);
        result.extra['rounds'] = rounds;
        // The warm-ups are not recorded; the rounds are sized from the first one's rate unless fixed.
        const fixed = sizes.fixed;
        const warmUp = fixed ? (context.quick ? fixed.quickWarmUp : fixed.warmUp) : warmUpSize(count);
        const first = await measure(side, warmUp, 0);
        if (stalled > 0) await measure(side, warmUp, stalled);
        const n = fixed ? count : roundSize(count, first, context);
        let r = 0;
        return {
          round: async () => {
            // Both kinds in every round, the order alternating, so that the ratio compares neighbours.
            const kinds = stalled === 0 ? [0] : r++ % 2 === 0 ? [0, stalled] : [stalled, 0];
            const measured = new Map<number, Round>();
            for (const k of kinds) {
              const round = await measure(side, n, k);
              rounds.push(round);
              measured.set(k, round);
            }
            const none = measured.get(0)!;
            result.samples['rate']!.push(none.rate);
            result.samples['rss']!.push(none.rssPerConnection);
            const withStalled = measured.get(stalled);
            if (stalled > 0 && withStalled) {
              result.samples['stalledRate']!.push(withStalled.rate);
              result.samples['stallRatio']!.push(withStalled.rate / none.rate);
            }
          },
          close: async () => {
            result.notes.push(describeRounds(rounds, connections, idle.rss));
            await pair.stop();
          },
        };
      } catch (error) {
        await pair.stop();
        throw error;
      }
    },
  };
}

/** A pair of processes and what a round needs to know of it. */
interface Side {
  readonly pair: OpenPair;
  /** Connections that read. */
  readonly connections: number;
  /** The server's RSS with every connection open and idle, after a full GC, bytes. */
  readonly idleRss: number;
  readonly context: RunContext;
  readonly result: ImplResult;
}

/** Idle time before every measured round, after its one-broadcast prelude (see `measure`). */
const SETTLE_MS = 250;

/**
 * One round of `n` broadcasts, with `stalled` stalled peers added for it (see the file's comment).
 * Every round, stalled or not, starts the same way: one broadcast (with stalled peers, the pacing
 * finds them slow there: see shared/fan-out.ts; it waits out its grace), then `SETTLE_MS` idle, so
 * that both kinds start their measured broadcasts from the same state of the machine.
 */
async function measure(side: Side, n: number, stalled: number): Promise<Round> {
  const { pair, context, result, connections } = side;
  const { server, client } = pair;
  let fill: FillResult | undefined;
  if (stalled > 0) {
    const ports = await client.call<number[]>({ cmd: 'stall', count: stalled }, context.timeoutMs);
    await server.call({ cmd: 'whenConnections', count: connections + stalled }, context.timeoutMs);
    fill = await server.call<FillResult>({ cmd: 'fill', ports }, context.timeoutMs);
    if (fill.filled !== stalled) result.notes.push(`filled ${fill.filled} of ${stalled} stalled connections in ${fill.ms} ms`);
  }
  await broadcastRound(side, 1, stalled > 0);
  await delay(SETTLE_MS);
  try {
    const round = await broadcastRound(side, n, stalled > 0);
    return { ...round, stalled, ...(fill ? { fill } : {}) };
  } finally {
    if (stalled > 0) {
      await client.call({ cmd: 'unstall' }, context.timeoutMs);
      await server.call({ cmd: 'whenConnectionsAtMost', count: connections }, context.timeoutMs);
    }
  }
}

async function broadcastRound(side: Side, n: number, withStalled: boolean): Promise<Omit<Round, 'stalled'>> {
  const { pair, context, result, connections } = side;
  const { server, client } = pair;
  await client.call({ cmd: 'arm', type: 'news', size: 0, total: n * connections }, context.timeoutMs);
  await server.call<PeakRss>({ cmd: 'peakRss', reset: true }, context.timeoutMs);
  const sending = server.call<Timed>({ cmd: 'broadcast', count: n }, context.timeoutMs);
  const [got, sent] = await Promise.all([client.call<TallyResult>({ cmd: 'collect' }, context.timeoutMs), sending]);
  const peak = await server.call<PeakRss>({ cmd: 'peakRss', reset: false }, context.timeoutMs);
  const lifetime = 'the server could not reset its RSS high-water mark: memory figures are over its whole life';
  if (!peak.resettable && !result.notes.includes(lifetime)) result.notes.push(lifetime);
  const refused = sent.refused ?? 0;
  // A library closing a stalled peer for its queue is expected; closing one that reads, an error.
  countErrors(result, got.errors + sent.errors + (withStalled ? 0 : refused), got.firstError ?? sent.firstError);
  const seconds = (got.t1 - sent.t0) / 1e9;
  return {
    messages: n,
    seconds,
    rate: (n * connections) / seconds,
    rssPerConnection: (peak.peak - side.idleRss) / connections,
    peakRssMiB: mib(peak.peak),
    pace: sent.pace,
    refused,
    targets: sent.targets,
  };
}

/** A line for the table's notes: what the pacing did over the measured rounds, and the stalled peers' fate. */
function describeRounds(rounds: readonly Round[], connections: number, idleRss: number): string {
  const parts = [`${labelled(connections)} connections, idle server RSS ${mib(idleRss)} MiB`];
  for (const stalled of [...new Set(rounds.map((r) => r.stalled))]) {
    const these = rounds.filter((r) => r.stalled === stalled);
    const sum = (f: (r: Round) => number): number => these.reduce((a, r) => a + f(r), 0);
    const max = (f: (r: Round) => number): number => Math.max(0, ...these.map(f));
    let text = stalled === 0 ? 'none stalled' : `${stalled} stalled`;
    if (these.some((r) => r.pace)) {
      text +=
        `: pacing ${sum((r) => r.pace?.waits ?? 0)} waits (longest ${max((r) => r.pace?.longestWaitMs ?? 0).toFixed(0)} ms), ` +
        `${sum((r) => r.pace?.lateSettles ?? 0)} connections flushed after the server's own flush (at most ${max((r) => r.pace?.longestLateMs ?? 0).toFixed(0)} ms after), ` +
        `${sum((r) => r.pace?.graceExpiries ?? 0)} waits cut by the grace, ${max((r) => r.pace?.slow ?? 0)} not waited on`;
    }
    if (stalled > 0) text += `, ${sum((r) => r.refused)} deliveries refused, targets ${[...new Set(these.map((r) => r.targets))].join('/')}`;
    parts.push(text);
  }
  return parts.join('; ');
}
