/**
 * The scenarios of `npm run bench`, in the order they run, with their sizes. For throughput and
 * broadcast the counts are the most a round sends: each implementation's rounds are sized from its
 * warm-up to last about 1.2 s (quick: 0.25 s), so the slow ones do not stretch the run.
 */
import { broadcast } from './broadcast.js';
import { idle } from './idle.js';
import { pingPong } from './ping-pong.js';
import type { Scenario } from './scenario.js';
import { throughput } from './throughput.js';

export const SCENARIOS: readonly Scenario[] = [
  throughput('small', 'small messages', { size: 0, full: 2_000_000, quick: 100_000 }),
  // The rounds of large contents spread widely (memory bandwidth shared with the host): twice as many,
  // each from a fresh pair of processes, since a pair keeps its speed for its whole life.
  throughput('64k', '64 KiB content', { size: 64 * 1024, full: 40_000, quick: 1_000, roundsPerRepeat: 2, roundsPerPair: 1 }),
  throughput('1m', '1 MiB content', { size: 1024 * 1024, full: 6_000, quick: 100, roundsPerRepeat: 2, roundsPerPair: 1 }),
  pingPong({ full: 5_000, quick: 1_000 }),
  broadcast({ connections: 200, full: 15_000, quick: 500 }),
  // Fan-out at scale, and with slow consumers: reference (a) and rx-tcp-hub only, the same number
  // of broadcasts in every round, enough for each connection to pass its 16 KiB window once or more
  // (a news frame is 36 bytes in both: 456 of them): see the benchmark's README, "Fan-out and slow consumers".
  broadcast({
    id: 'fanout-2k',
    connections: 2_000,
    full: 600,
    quick: 500,
    fixed: { warmUp: 300, quickWarmUp: 100, quickMaxRounds: 1 },
    stalledPercent: 1,
    impls: ['net', 'rx-tcp-hub'],
  }),
  broadcast({
    id: 'fanout-10k',
    connections: 10_000,
    quickConnections: 5_000,
    full: 500,
    quick: 500,
    fixed: { warmUp: 100, quickWarmUp: 50, maxRounds: 3, quickMaxRounds: 1 },
    impls: ['net', 'rx-tcp-hub'],
  }),
  idle({ full: 10_000, quick: 1_000 }),
];
