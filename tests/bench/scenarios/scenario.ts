/**
 * What a scenario is to the runner, and the process pair every scenario runs on: a server worker
 * and a client worker of one implementation, started together, connected, and always stopped.
 */
import { join } from 'node:path';
import type { ConnectResult, Mode } from '../impls/types.js';
import type { ImplName } from '../impls/index.js';
import type { Hello, StopReport } from '../ipc.js';
import { Worker } from '../workers.js';

export interface Metric {
  readonly key: string;
  /** What the row is called in the table, e.g. `small messages` or `ping-pong p99`. */
  readonly label: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
}

/** One implementation's outcome in one scenario. */
export interface ImplResult {
  /** Each metric's value in each measured round. */
  readonly samples: Record<string, number[]>;
  /** Messages that arrived wrong (order, size, type) or sends that failed, over every round. */
  errors: number;
  firstError?: string;
  /** Peak RSS of the server process (max over the scenario's process pairs), KiB. */
  serverMaxRssKiB?: number;
  clientMaxRssKiB?: number;
  /** Full GCs and GC time of each process over the scenario (warm-up and every round). */
  gc?: { server: { majorGcs: number; gcMs: number }; client: { majorGcs: number; gcMs: number } };
  /** Anything the table should say about this result (e.g. how many connections were reached). */
  readonly notes: string[];
  /** Set when the scenario could not finish (a crash, a timeout). */
  failed?: string;
  /** Figures for the JSON file only. */
  readonly extra: Record<string, unknown>;
}

export interface RunContext {
  readonly quick: boolean;
  readonly repeats: number;
  /** Deadline of any one request to a worker, ms. */
  readonly timeoutMs: number;
  /** Directory for CPU profiles (`--cpu-prof`), if profiling. */
  readonly profileDir?: string | undefined;
  readonly log: (line: string) => void;
}

/**
 * An implementation's processes for one scenario, warmed up. The runner takes one round from each
 * implementation in turn, so that whatever else the machine is doing weighs on all of them alike.
 */
export interface Session {
  /** One measured round; its figures go into the result's samples. */
  round(): Promise<void>;
  /** Stops the processes and records their peak RSS. */
  close(): Promise<void>;
}

export interface Scenario {
  readonly id: string;
  readonly title: string;
  readonly metrics: readonly Metric[];
  /** The scenario's sizes in this mode, for the report. */
  params(context: RunContext): Record<string, number>;
  /** How many measured rounds it takes (default: `context.repeats`). */
  rounds?(context: RunContext): number;
  /**
   * Measured rounds per pair of processes: after that many, the runner closes the session and opens
   * a new one (warm-up included). Default: one pair serves all the rounds. A pair of processes can
   * stay slow or fast for its whole life (where its memory landed, which CPUs its threads share),
   * so the rows whose rounds spread the most sample several pairs instead of trusting one.
   */
  readonly roundsPerPair?: number;
  /** Only these implementations run it (default: every one the run names). */
  readonly impls?: readonly ImplName[];
  /** A latency scenario: CPU idle states are held off while it runs (see idle-states.ts). */
  readonly holdsIdleStatesOff?: boolean;
  /** Starts an implementation's processes and warms them up. */
  open(impl: ImplName, context: RunContext, result: ImplResult): Promise<Session>;
}

export function emptyResult(scenario: Scenario): ImplResult {
  return { samples: Object.fromEntries(scenario.metrics.map((m) => [m.key, []])), errors: 0, notes: [], extra: {} };
}

/** Adds a round's errors to the result. */
export function countErrors(result: ImplResult, errors: number, firstError: string | undefined): void {
  result.errors += errors;
  if (firstError !== undefined) result.firstError ??= firstError;
}

export interface Pair {
  readonly server: Worker;
  readonly client: Worker;
  readonly connected: ConnectResult;
  readonly hellos: readonly [Hello, Hello];
}

export interface PairOptions {
  readonly scenario: string;
  readonly impl: ImplName;
  readonly mode: Mode;
  /** How many connections to open, given what file limits the two processes got. */
  readonly connections: (server: Hello, client: Hello) => number;
  /** Runs after the server listens, before the client connects. */
  readonly beforeConnect?: (server: Worker, client: Worker) => Promise<void>;
}

export interface OpenPair extends Pair {
  /** Stops both processes (the client first) and records their peak RSS in the result. */
  stop(): Promise<void>;
}

/** Starts a server and a client worker and connects them; if anything fails, both are stopped. */
export async function openPair(options: PairOptions, context: RunContext, result: ImplResult): Promise<OpenPair> {
  const profileDir = (role: string) => (context.profileDir ? join(context.profileDir, `${options.scenario}-${options.impl}-${role}`) : undefined);
  const server = new Worker({ impl: options.impl, role: 'server', profileDir: profileDir('server') });
  const client = new Worker({ impl: options.impl, role: 'client', profileDir: profileDir('client') });
  const stop = async (): Promise<void> => {
    // The client first, so that the server sees its peers leave instead of waiting out a linger.
    const clientReport = await client.stop();
    const serverReport = await server.stop();
    if (serverReport) result.serverMaxRssKiB = Math.max(result.serverMaxRssKiB ?? 0, serverReport.maxRssKiB);
    if (clientReport) result.clientMaxRssKiB = Math.max(result.clientMaxRssKiB ?? 0, clientReport.maxRssKiB);
    if (serverReport && clientReport) {
      // Summed over every pair the scenario opened for this implementation (see `roundsPerPair`).
      const gc = ({ majorGcs, gcMs }: StopReport, sum = { majorGcs: 0, gcMs: 0 }) => ({ majorGcs: sum.majorGcs + majorGcs, gcMs: sum.gcMs + Math.round(gcMs) });
      result.gc = { server: gc(serverReport, result.gc?.server), client: gc(clientReport, result.gc?.client) };
    }
  };
  try {
    const hellos = await Promise.all([server.hello, client.hello]);
    const { port } = await server.call<{ port: number }>({ cmd: 'listen', mode: options.mode }, context.timeoutMs);
    await options.beforeConnect?.(server, client);
    const connections = options.connections(...hellos);
    const connected = await client.call<ConnectResult>({ cmd: 'connect', mode: options.mode, port, connections }, context.timeoutMs);
    await server.call({ cmd: 'whenConnections', count: connected.opened }, context.timeoutMs);
    return { server, client, connected, hellos, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * How many messages a measured round sends: as many as the warm-up's rate fits in the target time
 * (1.2 s, quick 0.25 s), between a twentieth of the scenario's count and the count itself. So every
 * implementation is measured for about as long, however fast it is.
 */
export function roundSize(max: number, warmUp: { messages: number; seconds: number }, context: RunContext): number {
  const target = context.quick ? 0.25 : 1.2;
  const fits = Math.round((warmUp.messages / warmUp.seconds) * target);
  return Math.max(warmUpSize(max), Math.min(max, fits));
}

/** The warm-up round's size: a twentieth of the scenario's count. */
export function warmUpSize(max: number): number {
  return Math.max(1, Math.ceil(max / 20));
}

/** The value at quantile `q` (0..1) of ascending `sorted`, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}
