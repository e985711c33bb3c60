/**
 * npm run bench [-- --quick] [-- --only small,1m] [-- --impl net,rx-tcp-hub]
 *
 * Every scenario for every implementation, each on its own pair of worker processes (server and
 * client) on 127.0.0.1; the measured rounds of the implementations alternate. Then the table on
 * stdout and the JSON file. Exits 1 if any run failed or any receiver counted an error.
 * See `options.ts` for the flags.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { LIB_ENV, WORKER_ENV, buildHarness, buildLibrary } from './build.js';
import { IMPL_LABELS, type ImplName } from './impls/index.js';
import { holdIdleStatesOff } from './idle-states.js';
import { USAGE, parseOptions } from './options.js';
import { describeMachine, summarize, table, toJson, type ScenarioReport } from './report.js';
import { SCENARIOS } from './scenarios/index.js';
import { emptyResult, type RunContext, type Session } from './scenarios/scenario.js';
import { ROOT } from './workers.js';

let options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}
if (options === 'help') {
  console.log(USAGE);
  process.exit(0);
}

const started = Date.now();
// The workers inherit the environment (see worker.ts).
if (options.heapMiB > 0) process.env['RX_TCP_HUB_BENCH_HEAP_MB'] = String(options.heapMiB);
const machine = describeMachine();
/** What the latency scenarios did with CPU idle states (see idle-states.ts); set when one runs. */
let idleStates = 'as the machine has them';
const profileDir = options.cpuProf ? join(ROOT, '.bench', 'profiles') : undefined;
if (profileDir) {
  // Profiles of an earlier run would mix with this one's: profile-top reads the busiest file of a folder.
  rmSync(profileDir, { recursive: true, force: true });
  mkdirSync(profileDir, { recursive: true });
}
const context: RunContext = {
  quick: options.quick,
  repeats: options.repeats,
  timeoutMs: options.quick ? 30_000 : 120_000,
  profileDir,
  log: (line) => console.error(line),
};

context.log(
  `rx-tcp-hub bench (${options.quick ? 'quick' : 'full'}): ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, ` +
    `load ${machine.loadAtStart.join(' ')}`,
);
// The workers inherit the environment: set, they import the compiled library; unset, lib/*.ts.
if (options.fromSource) {
  delete process.env[LIB_ENV];
  delete process.env[WORKER_ENV];
  context.log('rx-tcp-hub from its sources (lib/*.ts through tsx), every worker through tsx');
} else {
  if (options.impls.includes('rx-tcp-hub')) {
    process.env[LIB_ENV] = buildLibrary(ROOT);
    context.log(`rx-tcp-hub compiled by tsc: ${process.env[LIB_ENV]}`);
  }
  process.env[WORKER_ENV] = buildHarness(ROOT);
  context.log(`workers compiled by tsc, run by plain node: ${process.env[WORKER_ENV]}`);
}

const reports: ScenarioReport[] = [];
let failures = 0;
for (const scenario of SCENARIOS.filter((s) => options.scenarios.includes(s.id))) {
  const t = Date.now();
  const report: ScenarioReport = { scenario, params: scenario.params(context), results: new Map() };
  reports.push(report);
  const sessions = new Map<ImplName, Session>();
  const hold = scenario.holdsIdleStatesOff && !options.keepIdleStates ? holdIdleStatesOff() : undefined;
  if (scenario.holdsIdleStatesOff) {
    idleStates = `${hold?.description ?? 'left on (--keep-idle-states)'} during ping-pong, as the machine has them elsewhere`;
    context.log(`  CPU idle states ${hold?.description ?? 'left on (--keep-idle-states)'}`);
  }
  const fail = (impl: ImplName, error: unknown): void => {
    report.results.get(impl)!.failed ??= (error as Error).message;
  };
  // A scenario may be for some implementations only (see Scenario.impls).
  const impls = options.impls.filter((impl) => !scenario.impls || scenario.impls.includes(impl));
  for (const impl of impls) {
    report.results.set(impl, emptyResult(scenario));
    try {
      sessions.set(impl, await scenario.open(impl, context, report.results.get(impl)!));
    } catch (error) {
      fail(impl, error);
    }
  }
  // Round r starts at the r-th implementation, so none is always first or last.
  const rounds = scenario.rounds?.(context) ?? context.repeats;
  for (let r = 0; r < rounds; r++) {
    // A fresh pair of processes every `roundsPerPair` rounds (see Scenario.roundsPerPair).
    const renew = scenario.roundsPerPair !== undefined && r > 0 && r % scenario.roundsPerPair === 0;
    for (let i = 0; i < impls.length; i++) {
      const impl = impls[(r + i) % impls.length]!;
      let session = sessions.get(impl);
      if (!session) continue;
      try {
        if (renew) {
          sessions.delete(impl);
          await session.close();
          session = await scenario.open(impl, context, report.results.get(impl)!);
          sessions.set(impl, session);
        }
        await session.round();
      } catch (error) {
        fail(impl, error);
        sessions.delete(impl);
        await session.close();
      }
    }
  }
  for (const session of sessions.values()) await session.close();
  hold?.release();
  for (const [impl, result] of report.results) {
    if (result.failed || result.errors > 0) failures++;
    const figures = scenario.metrics
      .map((m) => {
        const s = summarize(result.samples[m.key] ?? []);
        return s ? `${m.key} ${s.median.toFixed(m.unit === 'µs' ? 1 : m.unit === '×' ? 2 : 0)} ${m.unit}` : `${m.key} —`;
      })
      .join(', ');
    context.log(
      `  ${scenario.id.padEnd(10)} ${IMPL_LABELS[impl].padEnd(13)} ${figures}` +
        `${result.errors ? `, ${result.errors} errors` : ''}${result.failed ? `, FAILED: ${result.failed}` : ''}`,
    );
  }
  context.log(`  (${((Date.now() - t) / 1000).toFixed(1)} s)`);
}

const redis = options.scenarios.includes('redis') ? runRedisBench(options.quick) : undefined;
if (redis?.failed) failures++;

const seconds = (Date.now() - started) / 1000;
console.log(
  `\nrx-tcp-hub bench, ${options.quick ? 'quick' : 'full'} mode, ${options.repeats} measured rounds per scenario, ` +
    `${new Date().toISOString().slice(0, 10)}\n` +
    `machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.os}, ` +
    `load at start ${machine.loadAtStart.join(' ')}; CPU idle states ${idleStates}\n` +
    `each figure: median [min, max] over the rounds; × (a) is median / median of net (ref a); MB = 10^6 bytes of content\n` +
    `rx-tcp-hub ${options.fromSource ? 'from its TypeScript sources, every worker through tsx' : 'compiled by tsc, as the package ships; every worker compiled, in plain node'}` +
    `${options.heapMiB > 0 ? `; every worker holds ${options.heapMiB} MiB of live objects (--heap)` : ''}\n`,
);
console.log(table(reports));
if (redis) console.log(redis.table ?? `\nredis: ${redis.skipped ?? `FAILED: ${redis.failed}`}`);
const jsonPath = resolve(ROOT, options.jsonPath);
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(
  jsonPath,
  JSON.stringify(
    {
      ...toJson(reports, machine, { quick: options.quick, repeats: options.repeats, seconds, fromSource: options.fromSource, heapMiB: options.heapMiB, idleStates }),
      ...(redis ? { redis: redis.json ?? { skipped: redis.skipped, failed: redis.failed } } : {}),
    },
    null,
    2,
  ) + '\n',
);
console.log(`\n${seconds.toFixed(0)} s; results in ${jsonPath}${profileDir ? `; CPU profiles in ${profileDir}` : ''}`);
process.exit(failures > 0 ? 1 : 0);

/**
 * The Redis scenario: tests/bench/redis.ts in a process of its own (it starts a throwaway
 * redis-server unless REDIS_URL is set), its table and figures taken into this run's.
 */
function runRedisBench(quick: boolean): { table?: string; json?: unknown; skipped?: string; failed?: string } {
  if (!process.env['REDIS_URL'] && spawnSync('redis-server', ['--version']).error) {
    context.log('  redis      skipped: no redis-server on the PATH (apt install redis-server, or set REDIS_URL)');
    return { skipped: 'no redis-server on the PATH' };
  }
  const t = Date.now();
  const jsonPath = join(ROOT, '.bench', 'redis.json');
  rmSync(jsonPath, { force: true });
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'tests', 'bench', 'redis.ts'), ...(quick ? ['--quick'] : []), '--json', jsonPath], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: quick ? 60_000 : 300_000,
  });
  context.log(`  (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  if (run.status !== 0) return { failed: run.error?.message ?? `exit ${run.status ?? run.signal}` };
  return { table: run.stdout.trimEnd(), json: JSON.parse(readFileSync(jsonPath, 'utf8')) };
}
