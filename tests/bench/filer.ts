/**
 * npm run bench:filer [-- --size 1g] [-- --repeats 1] [-- --dir /tmp]
 *
 * The filer's throughput: one file (1 GiB by default) sent on 127.0.0.1 between two filer peer
 * processes (`get` over the library's `Peer`, SHA-256 verified), next to a plain TCP copy of the
 * same file made in the same run by two `node:net` processes piping it to a file. Prints MB/s of
 * both, their ratio, and the peak RSS of every process. The rounds of the two alternate. Targets:
 * at least 0.7 of the plain copy's rate, peak RSS under 200 MB per peer. Exits 1 if a copy failed
 * or differs. Not a test: run it on a quiet machine.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256File, writePattern } from '../helpers/transfer.js';
import type { WorkerOrder, WorkerReport } from './filer-worker.js';

const USAGE = `npm run bench:filer -- [options]     (or: npx tsx tests/bench/filer.ts [options])

  --size <n>      file size: bytes, or with k, m, g (binary: 1g = 1 GiB); default 1g
  --repeats <n>   rounds of each copy (default 1); the best round of each is compared
  --dir <path>    where the temporary files go (default the system's temporary folder)
  --cpu-prof <d>  write a CPU profile of every process under <d>, one folder per process
                  (summarise one: npx tsx tests/bench/profile-top.ts <d>/<folder>)
  --help          this text`;

const WORKER = fileURLToPath(new URL('./filer-worker.ts', import.meta.url));
const TIMEOUT_MS = 10 * 60_000;
const TARGET_RATIO = 0.7;
const TARGET_RSS = 200 * 1000 * 1000;

interface Options {
  readonly size: number;
  readonly repeats: number;
  readonly dir: string;
  readonly cpuProf: string | undefined;
}

interface Round {
  readonly ms: number;
  readonly bytesPerSecond: number;
  readonly senderRss: number;
  readonly receiverRss: number;
}

const options = parse(process.argv.slice(2));
const root = await mkdtemp(join(options.dir, 'rx-tcp-hub-bench-filer-'));
let failed = false;
try {
  await main(root);
} catch (error) {
  console.error(`bench:filer failed: ${(error as Error).stack ?? String(error)}`);
  failed = true;
} finally {
  await rm(root, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

async function main(root: string): Promise<void> {
  const share = join(root, 'share');
  await mkdir(share);
  const source = join(share, 'big.bin');
  log(`bench:filer: ${mb(options.size)} file, ${options.repeats} round(s) each, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}`);
  log(`writing ${source} ...`);
  await writePattern(source, options.size, 7);
  // On disk before the first round, so that no round pays for writing it back.
  const handle = await open(source, 'r+');
  await handle.datasync();
  await handle.close();
  const expected = await sha256File(source);

  const plain: Round[] = [];
  const filer: Round[] = [];
  for (let round = 1; round <= options.repeats; round++) {
    plain.push(await plainCopy(source, join(root, `plain-${round}.bin`)));
    log(`round ${round}: plain TCP ${rate(plain.at(-1)!)}`);
    filer.push(await filerCopy(share, join(root, `downloads-${round}`), expected));
    log(`round ${round}: rx-tcp-hub peers ${rate(filer.at(-1)!)}`);
  }

  const best = (rounds: Round[]) => rounds.reduce((a, b) => (b.bytesPerSecond > a.bytesPerSecond ? b : a));
  const p = best(plain);
  const f = best(filer);
  const ratio = f.bytesPerSecond / p.bytesPerSecond;
  const rssOk = f.senderRss < TARGET_RSS && f.receiverRss < TARGET_RSS;
  console.log('');
  console.log(`file: ${mb(options.size)} (${options.size} bytes) on 127.0.0.1; best of ${options.repeats}`);
  console.log(row('', 'MB/s', 'time', 'peak RSS sender', 'peak RSS receiver'));
  console.log(row('plain TCP (node:net pipe)', (p.bytesPerSecond / 1e6).toFixed(1), `${(p.ms / 1000).toFixed(2)} s`, mb(p.senderRss), mb(p.receiverRss)));
  console.log(row('rx-tcp-hub peers (get)', (f.bytesPerSecond / 1e6).toFixed(1), `${(f.ms / 1000).toFixed(2)} s`, mb(f.senderRss), mb(f.receiverRss)));
  console.log('');
  console.log(`ratio: ${ratio.toFixed(2)} of the plain copy (target >= ${TARGET_RATIO}): ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'}`);
  console.log(`peak RSS per peer under ${mb(TARGET_RSS)}: ${rssOk ? 'met' : 'NOT met'}`);
}

/** Two `node:net` processes: one listens and writes to `target`, the other pipes `source` to it. */
async function plainCopy(source: string, target: string): Promise<Round> {
  const receiver = worker(['net-receive', target]);
  try {
    const { port } = await expect(receiver, 'ready');
    const sender = worker(['net-send', source, String(port)]);
    try {
      const [sent, received] = await Promise.all([expect(sender, 'done'), expect(receiver, 'done')]);
      // From the receiver's accept to its file closed: process start-up is not counted.
      const ms = received.ms;
      const size = (await stat(target)).size;
      if (size !== options.size || received.bytes !== options.size) throw new Error(`plain copy: ${size} bytes written, ${received.bytes} received, ${options.size} expected`);
      await rm(target);
      return { ms, bytesPerSecond: (options.size * 1000) / ms, senderRss: sent.maxRssBytes, receiverRss: received.maxRssBytes };
    } finally {
      stop(sender);
    }
  } finally {
    stop(receiver);
  }
}

/** Two filer peer processes: the receiver `get`s the file from the sender's shared folder. */
async function filerCopy(share: string, downloads: string, sha256: string): Promise<Round> {
  const sender = worker(['peer', share, join(downloads, 'unused')]);
  const receiver = worker(['peer', join(share, '..'), downloads]);
  try {
    const [{ port }] = await Promise.all([expect(sender, 'ready'), expect(receiver, 'ready')]);
    order(receiver, { type: 'get', port, name: 'big.bin' });
    const done = await expect(receiver, 'done');
    // From the get (the dial included) to the receiver's verified file, measured in the receiver.
    const ms = done.ms;
    if (done.sha256 !== sha256 || done.bytes !== options.size) throw new Error(`filer copy: ${done.bytes} bytes, SHA-256 ${done.sha256}, expected ${sha256}`);
    order(sender, { type: 'rss' });
    const sent = await expect(sender, 'done');
    await rm(downloads, { recursive: true, force: true });
    return { ms, bytesPerSecond: (options.size * 1000) / ms, senderRss: sent.maxRssBytes, receiverRss: done.maxRssBytes };
  } finally {
    stop(sender);
    stop(receiver);
  }
}

function worker(args: string[]): ChildProcess {
  const prof = options.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(options.cpuProf, `${args[0]}-${basename(args[1]!)}`)}`] : [];
  const child = fork(WORKER, args, { execArgv: ['--import', 'tsx', ...prof], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.on('error', () => {});
  return child;
}

function order(child: ChildProcess, message: WorkerOrder): void {
  child.send(message);
}

function stop(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  if (child.connected) child.send({ type: 'stop' } satisfies WorkerOrder);
  setTimeout(() => child.kill('SIGKILL'), 5000).unref();
}

/** The worker's next report of this type; a `failed` report, an exit or the time limit reject. */
function expect<T extends WorkerReport['type']>(child: ChildProcess, type: T): Promise<Extract<WorkerReport, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no ${type} from ${child.spawnargs.slice(-3).join(' ')} in ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    const onMessage = (message: WorkerReport) => {
      if (message.type === 'failed') finish(new Error(`worker failed: ${message.error}`));
      else if (message.type === type) finish(undefined, message as Extract<WorkerReport, { type: T }>);
    };
    const onExit = (code: number | null) => finish(new Error(`worker exited (${code}) before ${type}`));
    const finish = (error?: Error, value?: Extract<WorkerReport, { type: T }>) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(value!);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function parse(argv: readonly string[]): Options {
  let size = 1024 ** 3;
  let repeats = 1;
  let dir = tmpdir();
  let cpuProf: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) usage(`${arg} needs a value`);
      return next!;
    };
    if (arg === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else if (arg === '--size') {
      const match = /^([0-9]+(?:\.[0-9]+)?)([kmg]?)$/i.exec(value());
      if (!match) usage('--size: expected bytes, or a number with k, m or g');
      size = Math.round(Number(match![1]) * 1024 ** ' kmg'.indexOf((match![2] || ' ').toLowerCase()));
      if (size < 1) usage('--size: at least 1 byte');
    } else if (arg === '--repeats') {
      repeats = Number(value());
      if (!Number.isInteger(repeats) || repeats < 1) usage('--repeats: a whole number >= 1');
    } else if (arg === '--dir') {
      dir = value();
    } else if (arg === '--cpu-prof') {
      cpuProf = resolve(value());
    } else {
      usage(`unknown option ${arg}`);
    }
  }
  return { size, repeats, dir, cpuProf };
}

function usage(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

function row(...cells: string[]): string {
  return [cells[0]!.padEnd(28), ...cells.slice(1).map((c, i) => c.padStart(i === 0 ? 8 : i === 1 ? 9 : 18))].join('');
}

function rate(round: Round): string {
  return `${(round.bytesPerSecond / 1e6).toFixed(1)} MB/s in ${(round.ms / 1000).toFixed(2)} s, peak RSS ${mb(round.senderRss)} / ${mb(round.receiverRss)}`;
}

function mb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

function log(line: string): void {
  console.error(line);
}
