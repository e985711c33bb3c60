/**
 * What the benchmark measures of rx-tcp-hub: the library as the package ships it, compiled by `tsc`
 * (`tsconfig.build.json`) into `.bench/dist/`, not the TypeScript sources run through tsx. tsx's
 * transform wraps every named closure in a `__name()` call that redefines the function's `name`,
 * which costs time on each closure made and about 2 KiB of heap per connection: a cost of the
 * loader, not of the library. `--from-source` measures the sources instead.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The variable that tells a worker where the compiled library is; unset, it imports `lib/`. */
export const LIB_ENV = 'RX_TCP_HUB_BENCH_LIB';

/** Compiles the library into `<root>/.bench/dist` and returns the URL of its entry point. */
export function buildLibrary(root: string): string {
  const outDir = join(root, '.bench', 'dist');
  const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  const entry = join(outDir, 'index.js');
  try {
    execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', outDir, '--declaration', 'false', '--sourceMap', 'false', '--declarationMap', 'false'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    // tsc still emits on type errors (in a file the benchmark may not even load): go on, say so.
    const output = String((error as { stdout?: Buffer }).stdout ?? '').trim();
    if (!existsSync(entry)) throw error;
    console.error(`warning: tsc reported errors; benchmarking what it emitted anyway:\n${output}`);
  }
  return pathToFileURL(entry).href;
}
