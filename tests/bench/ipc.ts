/** The messages between the runner and its worker processes. */
import type { Mode } from './impls/types.js';
import type { PaceStats } from './shared/fan-out.js';
import type { TallyResult } from './shared/tally.js';

/**
 * Set to a file's path, every receiving worker appends a line there when a round is armed and when
 * it is collected: `<pid> <name> arm|collect <CLOCK_MONOTONIC ns>`. `perf-window.ts` keeps the
 * samples of a `perf record -k mono` that fall between them (see there).
 */
export const MARKS_ENV = 'RX_TCP_HUB_BENCH_MARKS';

export type Request = { id: number } & (
  | { cmd: 'listen'; mode: Mode }
  | { cmd: 'connect'; mode: Mode; port: number; connections: number }
  | { cmd: 'whenConnections'; count: number }
  | { cmd: 'whenConnectionsAtMost'; count: number }
  /** Arms the receiving side: `total` messages of `type` with `size` content bytes, seq 0.. per connection. */
  | { cmd: 'arm'; type: string; size: number; total: number }
  | { cmd: 'collect' }
  | { cmd: 'send'; count: number; size: number }
  | { cmd: 'broadcast'; count: number }
  | { cmd: 'pingPong'; count: number }
  | { cmd: 'memory' }
  /** The resident set's high-water mark since the last reset (see `PeakRss`); `reset` starts a new one after reading it. */
  | { cmd: 'peakRss'; reset: boolean }
  /** See `BenchServer.fill`. */
  | { cmd: 'fill'; ports: number[] }
  /** See `BenchClient.stall` and `unstall`. */
  | { cmd: 'stall'; count: number }
  | { cmd: 'unstall' }
  | { cmd: 'stop' }
);

/** Spreads over the union, so each request keeps its own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
export type Command = WithoutId<Request>;

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export interface Hello {
  type: 'hello';
  pid: number;
  /** Soft limit on open files; null when unlimited. */
  fileLimit: number | null;
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export interface StopReport {
  /** process.resourceUsage().maxRSS: the peak resident set, KiB. */
  maxRssKiB: number;
  /** Full (mark-compact) garbage collections over the process's life, and all GC time, ms. */
  majorGcs: number;
  gcMs: number;
}

/** What the receiving process spent between `arm` and the end of its round (all its threads). */
export interface RoundUsage {
  /** User plus system CPU time, µs. */
  cpuUs: number;
  /** Minor page faults: memory touched for the first time since it came from the kernel. */
  minorFaults: number;
}

/** What `collect` answers: the tally of the round and what receiving it cost the process. */
export interface Collected extends TallyResult {
  usage: RoundUsage;
}

/** What `send` and `broadcast` answer: `now()` before the first message and after the last was handed over. */
export interface Timed {
  t0: number;
  t1: number;
  errors: number;
  firstError?: string;
  /** `broadcast`: see `BroadcastResult`. */
  pace?: PaceStats;
  refused?: number;
  targets?: number;
}

/**
 * What `peakRss` answers. On Linux the high-water mark is the kernel's own (`VmHWM` of
 * /proc/self/status, reset by writing 5 to /proc/self/clear_refs), so no peak between samples is
 * missed; where it cannot be reset, `peak` is the process's lifetime peak and `reset` is false.
 */
export interface PeakRss {
  /** Bytes. */
  peak: number;
  /** Bytes resident now. */
  rss: number;
  /** Whether the mark was reset after this reading (or would have been: `reset: false` asked for none). */
  resettable: boolean;
}
