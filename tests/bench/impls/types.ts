/**
 * What each implementation provides to the worker processes. One file per implementation
 * (`hub.ts`, `net.ts`, `ws.ts`, `axon.ts`) writes both roles in that library's own idiom; the
 * worker arms the shared `Tally` and times what these calls do.
 */
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

export interface PingPongResult extends SendResult {
  /** Round-trip times in nanoseconds, in order. */
  readonly rtts: number[];
}

export interface BenchServer {
  readonly port: number;
  /** Resolves once `count` connections are open on the server side. */
  whenConnections(count: number): Promise<void>;
  /** Mode `broadcast`: messages `news(seq)`, seq 0..count-1, to every connection, respecting backpressure. */
  broadcast(count: number): Promise<SendResult>;
  stop(): Promise<void>;
}

export interface ConnectResult {
  readonly opened: number;
  readonly failed: number;
  readonly firstError?: string;
}

export interface BenchClient {
  readonly connect: ConnectResult;
  /** Mode `throughput`: messages `chat(seq)`, seq 0..count-1, with `content`, respecting backpressure. */
  send(count: number, content: Buffer): Promise<SendResult>;
  /** Mode `ping-pong`: `count` round trips, one at a time (`ping(seq)` out, `pong(seq)` back). */
  pingPong(count: number): Promise<PingPongResult>;
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

  get count(): number {
    return this.value;
  }

  add(delta: number): void {
    this.value += delta;
    this.waiters = this.waiters.filter((w) => (this.value >= w.target ? (w.resolve(), false) : true));
  }

  reach(target: number): Promise<void> {
    if (this.value >= target) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ target, resolve }));
  }
}
