/**
 * One side of a benchmark, in its own process:
 *   node --import tsx tests/bench/worker.ts <implementation> <server|client>
 * It answers the runner's requests over the IPC channel (see `ipc.ts`), in order, one at a time.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { PerformanceObserver, constants as perf } from 'node:perf_hooks';
import { Tally } from './shared/tally.js';
import { makeContent, now } from './shared/messages.js';
import { describe, type BenchClient, type BenchServer, type Implementation } from './impls/types.js';
import { IMPLEMENTATIONS, type ImplName } from './impls/index.js';
import { MARKS_ENV, type Collected, type Hello, type MemorySample, type PeakRss, type Reply, type Request, type RoundUsage, type StopReport } from './ipc.js';

// The role (argv[3]) only names the process: requests decide what it does. The name, `s:net` or
// `c:rx-tcp-hub`, is the main thread's on Linux, so `perf report --sort comm` tells the workers apart.
const name = process.argv[2] as ImplName;
process.title = `${process.argv[3] === 'server' ? 's' : 'c'}:${name}`;
/**
 * `--heap MB`: live objects every worker holds before it starts, alike for every implementation,
 * so that each process has a heap the size of an application's instead of a bare script's.
 */
const ballastMiB = Number(process.env['RX_TCP_HUB_BENCH_HEAP_MB'] ?? 0);
(globalThis as { benchBallast?: unknown }).benchBallast = Array.from({ length: Math.round((ballastMiB * 1048576) / 40) }, (_, i) => ({ i, next: null })); // about 40 bytes each
const implementation: Implementation = await IMPLEMENTATIONS[name]();
const tally = new Tally();
// Garbage collections, reported at stop: a receiver's full GCs explain most of its variance.
const gcs = { majorGcs: 0, gcMs: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcs.gcMs += entry.duration;
    if ((entry as { detail?: { kind?: number } }).detail?.kind === perf.NODE_PERFORMANCE_GC_MAJOR) gcs.majorGcs++;
  }
}).observe({ entryTypes: ['gc'] });
/** Taken when a round is armed, so that `collect` can tell what receiving the round cost. */
let usageAtArm = process.resourceUsage();
let server: BenchServer | undefined;
let client: BenchClient | undefined;
let content: Buffer = Buffer.alloc(0);

const marks = process.env[MARKS_ENV];
/** Notes the time on the clock `perf record -k mono` uses (see `MARKS_ENV`); outside the round it bounds. */
function mark(event: 'arm' | 'collect'): void {
  if (marks) appendFileSync(marks, `${process.pid} ${process.title} ${event} ${process.hrtime.bigint()}\n`);
}

async function handle(request: Request): Promise<unknown> {
  switch (request.cmd) {
    case 'listen':
      server = await implementation.listen({ mode: request.mode, check: () => tally.connection() });
      return { port: server.port };
    case 'connect':
      client = await implementation.connect({
        mode: request.mode,
        port: request.port,
        connections: request.connections,
        check: () => tally.connection(),
      });
      return client.connect;
    case 'whenConnections':
      await server!.whenConnections(request.count);
      return null;
    case 'whenConnectionsAtMost':
      if (!server!.whenConnectionsAtMost) throw new Error(`${name} cannot wait for connections to leave`);
      await server!.whenConnectionsAtMost(request.count);
      return null;
    case 'arm':
      mark('arm');
      usageAtArm = process.resourceUsage();
      tally.arm(request.type, request.size, request.total);
      return null;
    case 'collect': {
      const collected: Collected = { ...(await tally.collect()), usage: usageSince(usageAtArm) };
      mark('collect');
      return collected;
    }
    case 'send': {
      if (content.length !== request.size) content = makeContent(request.size);
      const t0 = now();
      const result = await client!.send(request.count, content);
      return { ...result, t0, t1: now() };
    }
    case 'broadcast': {
      const t0 = now();
      const result = await server!.broadcast(request.count);
      return { ...result, t0, t1: now() };
    }
    case 'pingPong':
      return await client!.pingPong(request.count);
    case 'memory':
      return memory();
    case 'peakRss':
      return peakRss(request.reset);
    case 'fill':
      if (!server!.fill) throw new Error(`${name} cannot fill stalled connections`);
      return await server!.fill(request.ports);
    case 'stall':
      if (!client!.stall) throw new Error(`${name} cannot stall connections`);
      return await client!.stall(request.count);
    case 'unstall':
      await client!.unstall?.();
      return null;
    case 'stop': {
      await Promise.race([(server ?? client)?.stop(), new Promise((resolve) => setTimeout(resolve, 3000))]);
      const report: StopReport = { maxRssKiB: process.resourceUsage().maxRSS, ...gcs };
      return report;
    }
  }
}

function usageSince(start: NodeJS.ResourceUsage): RoundUsage {
  const end = process.resourceUsage();
  return {
    cpuUs: end.userCPUTime + end.systemCPUTime - start.userCPUTime - start.systemCPUTime,
    minorFaults: end.minorPageFault - start.minorPageFault,
  };
}

function memory(): MemorySample {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, external, arrayBuffers };
}

/** See `PeakRss`. */
function peakRss(reset: boolean): PeakRss {
  const rss = process.memoryUsage.rss();
  let peak: number | null = null;
  try {
    const line = readFileSync('/proc/self/status', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmHWM:'));
    if (line) peak = Number(line.split(/\s+/)[1]) * 1024;
  } catch {
    // not Linux: the lifetime peak below
  }
  let resettable = peak !== null;
  if (resettable && reset) {
    try {
      writeFileSync('/proc/self/clear_refs', '5'); // the high-water mark restarts at the current RSS
    } catch {
      resettable = false;
    }
  }
  return { peak: Math.max(peak ?? process.resourceUsage().maxRSS * 1024, rss), rss, resettable };
}

/** The soft limit on open files, as this process got it (raised by the runner where allowed). */
function fileLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? null : Number(soft);
  } catch {
    return null;
  }
}

process.on('message', (request: Request) => {
  handle(request).then(
    (result) => reply({ id: request.id, ok: true, result }, request.cmd === 'stop'),
    (error: unknown) => reply({ id: request.id, ok: false, error: describe(error) }, false),
  );
});

function reply(message: Reply, last: boolean): void {
  process.send!(message, undefined, undefined, () => {
    if (last) {
      process.disconnect();
      process.exit(0);
    }
  });
}

const hello: Hello = { type: 'hello', pid: process.pid, fileLimit: fileLimit() };
process.send!(hello);
