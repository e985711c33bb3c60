/** The command line of `npm run bench`. */
import { DEFAULT_IMPLS, IMPL_NAMES, type ImplName } from './impls/index.js';
import { SCENARIOS } from './scenarios/index.js';

export interface BenchOptions {
  readonly quick: boolean;
  readonly repeats: number;
  readonly scenarios: readonly string[];
  readonly impls: readonly ImplName[];
  readonly jsonPath: string;
  readonly cpuProf: boolean;
  /** Measure rx-tcp-hub from its TypeScript sources through tsx instead of compiled (see build.ts). */
  readonly fromSource: boolean;
  /** MiB of live objects each worker holds before it starts (0: none): an application-sized heap. */
  readonly heapMiB: number;
  /** Leave CPU idle states as they are during ping-pong instead of holding them off (see idle-states.ts). */
  readonly keepIdleStates: boolean;
}

/** The scenarios of `scenarios/`, then the Redis one (a script of its own). */
export const SCENARIO_IDS = [...SCENARIOS.map((s) => s.id), 'redis'];

export const USAGE = `npm run bench -- [options]       (or: npx tsx tests/bench/run.ts [options])

  --quick              fewer messages, repeats and idle connections: a whole run in under a minute
  --only <ids>         only these scenarios, comma-separated: ${SCENARIO_IDS.join(', ')}
                       (redis: broadcast across 2 hubs bridged through Redis next to one hub, run by
                       tests/bench/redis.ts; needs redis-server on the PATH, else it is skipped)
  --impl <names>       only these implementations, comma-separated: ${IMPL_NAMES.join(', ')}
                       (default: all but net-loaded, a control: reference (a)'s code in processes
                       that have loaded rx-tcp-hub too; ratios need net, reference (a), in the run)
  --repeats <n>        measured rounds per scenario (default 5, quick 2; idle: at most 3, quick 1)
  --json <path>        where to write the results (default .bench/results.json)
  --from-source        run rx-tcp-hub from lib/*.ts through tsx instead of compiled by tsc into
                       .bench/dist/ (what the package ships; the default)
  --heap <MiB>         every worker (of every implementation) first fills its heap with this many
                       MiB of live objects, as an application's would be (default 0: bare workers)
  --keep-idle-states   leave CPU idle states on during ping-pong too (by default they are held
                       off there, through /dev/cpu_dma_latency where allowed: see idle-states.ts)
  --cpu-prof           write a CPU profile of every worker to .bench/profiles/
                       (summarise one: npx tsx tests/bench/profile-top.ts .bench/profiles/<scenario>-<impl>-<role>)
  --help               this text

  RX_TCP_HUB_BENCH_NODE_ARGS='--trace-gc' adds Node flags to every worker (NODE_OPTIONS refuses some).`;

export function parseOptions(argv: readonly string[]): BenchOptions | 'help' {
  let quick = false;
  let repeats: number | undefined;
  let scenarios = [...SCENARIO_IDS];
  let impls: ImplName[] = [...DEFAULT_IMPLS];
  let jsonPath = '.bench/results.json';
  let cpuProf = false;
  let fromSource = false;
  let heapMiB = 0;
  let keepIdleStates = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    switch (arg) {
      case '--quick':
        quick = true;
        break;
      case '--only':
        scenarios = listOf(value(), SCENARIO_IDS, '--only');
        break;
      case '--impl':
        impls = listOf(value(), IMPL_NAMES, '--impl') as ImplName[];
        break;
      case '--repeats':
        repeats = Number(value());
        if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`--repeats must be a whole number >= 1`);
        break;
      case '--json':
        jsonPath = value();
        break;
      case '--cpu-prof':
        cpuProf = true;
        break;
      case '--heap':
        heapMiB = Number(value());
        if (!(heapMiB >= 0 && heapMiB <= 4096)) throw new Error('--heap must be a number of MiB from 0 to 4096');
        break;
      case '--from-source':
        fromSource = true;
        break;
      case '--keep-idle-states':
        keepIdleStates = true;
        break;
      case '--help':
      case '-h':
        return 'help';
      default:
        throw new Error(`unknown option ${arg}\n\n${USAGE}`);
    }
  }
  return { quick, repeats: repeats ?? (quick ? 2 : 5), scenarios, impls, jsonPath, cpuProf, fromSource, heapMiB, keepIdleStates };
}

function listOf(value: string, known: readonly string[], option: string): string[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    if (!known.includes(name)) throw new Error(`${option}: unknown ${JSON.stringify(name)}; known: ${known.join(', ')}`);
  }
  // In the run's own order, whatever the order given.
  return known.filter((name) => names.includes(name));
}
