/**
 * What the benchmark measures of rx-tcp-hub: the library as the package ships it, compiled by `tsc`
 * (`tsconfig.build.json`) into `.bench/dist/`, not the TypeScript sources run through tsx. tsx's
 * transform wraps every named closure in a `__name()` call that redefines the function's `name`,
 * which costs time on each closure made and about 2 KiB of heap per connection: a cost of the
 * loader, not of the library. `--from-source` measures the sources instead.
 *
 * The worker processes themselves run compiled too (`buildHarness`), as plain `node`: tsx would add
 * about 2.4 MB of heap to every one of them, which no production process carries, and a heap of a
 * few MB either side of V8's 8 MB threshold decides whether a receiver does incremental marking
 * (see the README's Performance section).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The variable that tells a worker where the compiled library is; unset, it imports `lib/`. */
export const LIB_ENV = 'RX_TCP_HUB_BENCH_LIB';

/** The variable that tells the runner which compiled worker to start; unset, it runs worker.ts through tsx. */
export const WORKER_ENV = 'RX_TCP_HUB_BENCH_WORKER';

/** Compiles the library into `<root>/.bench/dist` and returns the URL of its entry point. */
export function buildLibrary(root: string): string {
  const outDir = join(root, '.bench', 'dist');
  compile(root, join(outDir, 'index.js'), ['-p', join(root, 'tsconfig.build.json'), '--outDir', outDir]);
  return pathToFileURL(join(outDir, 'index.js')).href;
}

/** Compiles the worker process's code (worker.ts and what it imports) and returns the worker's path. */
export function buildHarness(root: string): string {
  const outDir = join(root, '.bench', 'harness');
  const bench = join(root, 'tests', 'bench');
  const worker = join(outDir, 'tests', 'bench', 'worker.js');
  const files = ['worker.ts', 'axon.d.ts', ...readdirSync(join(bench, 'impls')).map((name) => join('impls', name))];
  compile(root, worker, [
    ...files.map((file) => join(bench, file)),
    ...['--outDir', outDir, '--rootDir', root, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022'],
    ...['--types', 'node', '--skipLibCheck', '--esModuleInterop', '--strict'],
  ]);
  return worker;
}

function compile(root: string, output: string, args: string[]): void {
  const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, ...args, '--declaration', 'false', '--sourceMap', 'false', '--declarationMap', 'false'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    // tsc still emits on type errors (in a file the benchmark may not even load): go on, say so.
    const text = String((error as { stdout?: Buffer }).stdout ?? '').trim();
    if (!existsSync(output)) throw error;
    console.error(`warning: tsc reported errors; benchmarking what it emitted anyway:\n${text}`);
  }
}
