/**
 * What each implementation provides to the worker processes. One file per implementation
 * (`hub.ts`, `net.ts`, `ws.ts`, `axon.ts`) writes both roles in that library's own idiom; the
 * worker arms the shared `Tally` and times what these calls do.
 */
import type { PaceStats } from '../shared/fan-out.js';
import type { Check } from '../shared/tally.js';

/** What a server or client process sets itself up for. */
export type Mode = 'throughput' | 'ping-pong' | 'broadcast' | 'idle';

export interface ServerSetup {
  readonly mode: Mode;
  /** A checker for each accepted connection's messages (mode `throughput`). */
  readonly check: () => Check;
}

export interface ClientSetup {
  readonly mode: Mode;
  readonly port: number;
  /** How many connections to open. */
  readonly connections: number;
  /** A checker for each connection's messages (mode `broadcast`). */
  readonly check: () => Check;
}

/** Outcome of sending: how many sends failed, and the first failure. */
export interface SendResult {
  readonly errors: number;
  readonly firstError?: string;
}

/** Outcome of a broadcast: besides errors, what its pacing did (see `shared/fan-out.ts`). */
export interface BroadcastResult extends SendResult {
  readonly pace?: PaceStats;
  /**
   * Deliveries the server's library refused and closed the connection for (rx-tcp-hub: a queue
   * limit, `slow-consumer`): expected of stalled connections only, so counted apart from errors.
   */
  readonly refused?: number;
  /** Connections the server broadcast to, at the end (rx-tcp-hub closes slow consumers). */
  readonly targets?: number;
}

export interface PingPongResult extends SendResult {
  /** Round-trip times in nanoseconds, in order. */
  readonly rtts: number[];
}

export interface BenchServer {
  readonly port: number;
  /** Resolves once `count` connections are open on the server side. */
  whenConnections(count: number): Promise<void>;
  /** Resolves once at most `count` connections are open (after peers left); needed by `BenchClient.stall`'s scenarios. */
  whenConnectionsAtMost?(count: number): Promise<void>;
  /** Mode `broadcast`: messages `news(seq)`, seq 0..count-1, to every connection, respecting backpressure. */
  broadcast(count: number): Promise<BroadcastResult>;
  /**
   * Mode `broadcast`: fills the kernel's buffers of the connections whose peers' local ports are
   * given (stalled peers: see `BenchClient.stall`) with `fill` frames of filler content, until
   * each holds a window's worth unsent (see `shared/fan-out.ts`). Implementations without it
   * cannot run a scenario with stalled peers.
   */
  fill?(ports: readonly number[]): Promise<FillResult>;
  stop(): Promise<void>;
}

export interface ConnectResult {
  readonly opened: number;
  readonly failed: number;
  readonly firstError?: string;
}

/** What `BenchServer.fill` did. */
export interface FillResult {
  /** Connections found for the ports given, and filled. */
  readonly filled: number;
  /** Bytes handed to them over all (kernel buffers and what is left unsent). */
  readonly bytes: number;
  readonly ms: number;
}

export interface BenchClient {
  readonly connect: ConnectResult;
  /** Mode `throughput`: messages `chat(seq)`, seq 0..count-1, with `content`, respecting backpressure. */
  send(count: number, content: Buffer): Promise<SendResult>;
  /** Mode `ping-pong`: `count` round trips, one at a time (`ping(seq)` out, `pong(seq)` back). */
  pingPong(count: number): Promise<PingPongResult>;
  /**
   * Mode `broadcast`: opens `count` more connections that stop reading once connected
   * (`socket.pause()`, never resumed) and get no checker; resolves with their local ports.
   * Implementations without it cannot run a scenario with stalled peers.
   */
  stall?(count: number): Promise<number[]>;
  /** Destroys the connections `stall` opened. */
  unstall?(): Promise<void>;
  stop(): Promise<void>;
}

export interface Implementation {
  listen(setup: ServerSetup): Promise<BenchServer>;
  connect(setup: ClientSetup): Promise<BenchClient>;
}

/** Errors as text for the report (stack traces would only clutter it). */
export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Opens `count` connections, at most `concurrency` dialling at once; failures are counted. */
export async function openMany<T>(count: number, concurrency: number, open: () => Promise<T>): Promise<{ opened: T[]; failed: number; firstError?: string }> {
  const opened: T[] = [];
  let failed = 0;
  let firstError: string | undefined;
  let started = 0;
  const lane = async (): Promise<void> => {
    while (started < count) {
      started++;
      try {
        opened.push(await open());
      } catch (error) {
        failed++;
        firstError ??= describe(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return firstError === undefined ? { opened, failed } : { opened, failed, firstError };
}

/** Dials at most this many connections at once (under the listen backlog of 511). */
export const DIAL_CONCURRENCY = 256;

/** A count of open connections that can be waited on. */
export class Counter {
  private value = 0;
  private waiters: { target: number; resolve: () => void }[] = [];
  private fallers: { target: number; resolve: () => void }[] = [];

  get count(): number {
    return this.value;
  }

  add(delta: number): void {
    this.value += delta;
    this.waiters = this.waiters.filter((w) => (this.value >= w.target ? (w.resolve(), false) : true));
    if (this.fallers.length > 0) this.fallers = this.fallers.filter((w) => (this.value <= w.target ? (w.resolve(), false) : true));
  }

  reach(target: number): Promise<void> {
    if (this.value >= target) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ target, resolve }));
  }

  /** Resolves once the count is `target` or less. */
  fall(target: number): Promise<void> {
    if (this.value <= target) return Promise.resolve();
    return new Promise((resolve) => this.fallers.push({ target, resolve }));
  }
}
