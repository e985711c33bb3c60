/**
 * The functions that took the most self time in a V8 CPU profile (`--cpu-prof`):
 *   npx tsx tests/bench/profile-top.ts <file.cpuprofile | directory> [count]
 * Given a directory (one per worker under .bench/profiles/, with a profile per thread), it reads
 * the busiest profile in it: the main thread's, not tsx's loader thread's. Functions are grouped
 * by name and source position; percentages are of the time the thread was not idle.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './workers.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

interface SelfTimes {
  readonly file: string;
  readonly busyUs: number;
  readonly byFunction: Map<string, number>;
}

function selfTimes(file: string): SelfTimes {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byFunction = new Map<string, number>();
  let busyUs = 0;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)!;
    if (frame.functionName === '(idle)') return;
    const delta = profile.timeDeltas[i] ?? 0;
    busyUs += delta;
    const key = `${frame.functionName || '(anonymous)'}  ${where(frame.url, frame.lineNumber)}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + delta);
  });
  return { file, busyUs, byFunction };
}

function where(url: string, line: number): string {
  if (!url) return '';
  const path = url.startsWith('file://') ? relative(ROOT, fileURLToPath(url)) : url;
  return `${path}:${line + 1}`;
}

const [target, countArg] = process.argv.slice(2);
if (!target) {
  console.error('usage: npx tsx tests/bench/profile-top.ts <file.cpuprofile | directory> [count]');
  process.exit(2);
}
const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(target, f))
  : [target];
const busiest = files.map(selfTimes).sort((a, b) => b.busyUs - a.busyUs)[0];
if (!busiest) {
  console.error(`no .cpuprofile in ${target}`);
  process.exit(1);
}
console.log(`${busiest.file}: ${(busiest.busyUs / 1000).toFixed(0)} ms not idle\n`);
console.log('self ms   % busy  function  (source)');
for (const [key, us] of [...busiest.byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(countArg ?? 10))) {
  console.log(`${(us / 1000).toFixed(1).padStart(7)}  ${((100 * us) / busiest.busyUs).toFixed(1).padStart(6)}  ${key}`);
}
