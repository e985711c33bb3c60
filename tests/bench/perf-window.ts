/**
 * Where the CPU went inside the measured rounds only, per implementation and side, from a `perf`
 * recording of a benchmark run whose workers wrote their round marks (`MARKS_ENV` in ipc.ts):
 *
 *   RX_TCP_HUB_BENCH_MARKS=.bench/marks.txt perf record -k mono -F 1999 -o .bench/perf.data -- \
 *     npm run bench -- --only 1m --impl net,net-loaded,rx-tcp-hub
 *   npx tsx tests/bench/perf-window.ts .bench/marks.txt .bench/perf.data [symbols per side]
 *
 * A CPU profile (`--cpu-prof`) sees JavaScript only, and a whole-process `perf report` mixes in
 * each worker's start-up (parsing and compiling the modules it loads), which the rounds do not pay.
 * Here a sample counts when it falls inside one of its implementation's measured rounds: from a
 * receiver's `arm` to its `collect`, the first of each receiver process left out (its pair's
 * warm-up). A worker is known by the name its main thread gives itself (`s:net`, `c:rx-tcp-hub`);
 * its other threads (V8's compiler and collector, libuv's) are counted as its background (`bg`).
 * All implementations send the same messages per round, so sample counts compare as CPU per message.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

interface Window {
  readonly from: number;
  readonly to: number;
}

/** The measured rounds of each implementation, in seconds on CLOCK_MONOTONIC. */
function windowsOf(marksFile: string): Map<string, Window[]> {
  const byProcess = new Map<string, { impl: string; events: [string, number][] }>();
  for (const line of readFileSync(marksFile, 'utf8').split('\n')) {
    const [pid, name, event, ns] = line.split(' ');
    if (!pid || !name || !event || !ns) continue;
    const entry = byProcess.get(pid) ?? { impl: name.slice(2), events: [] };
    entry.events.push([event, Number(BigInt(ns)) / 1e9]);
    byProcess.set(pid, entry);
  }
  const windows = new Map<string, Window[]>();
  for (const { impl, events } of byProcess.values()) {
    const list = windows.get(impl) ?? [];
    let armed: number | undefined;
    let rounds = 0;
    for (const [event, at] of events) {
      if (event === 'arm') armed = at;
      else if (event === 'collect' && armed !== undefined) {
        if (rounds++ > 0) list.push({ from: armed, to: at });
        armed = undefined;
      }
    }
    windows.set(impl, list);
  }
  return windows;
}

type Kind = 'kernel' | 'libc' | 'node' | 'JIT' | 'other';

function kindOf(dso: string): Kind {
  if (dso.includes('kernel')) return 'kernel';
  if (dso.includes('libc')) return 'libc';
  if (dso.includes('perf-') || dso.includes('JIT')) return 'JIT';
  return dso.endsWith('/node') ? 'node' : 'other';
}

// `perf script -F comm,pid,tid,time,ip,sym,dso`: a command name may hold spaces.
const SAMPLE = /^\s*(.*?)\s+(\d+)\/(\d+)\s+([\d.]+):\s+\S+\s+(.*?)\s+\((.*)\)\s*$/;

function main(): void {
  const [marksFile, perfData, top = '25'] = process.argv.slice(2);
  if (!marksFile || !perfData) {
    console.error('usage: npx tsx tests/bench/perf-window.ts <marks file> <perf.data> [symbols per side]');
    process.exit(2);
  }
  const windows = windowsOf(marksFile);
  const script = execFileSync('perf', ['script', '-i', perfData, '-F', 'comm,pid,tid,time,ip,sym,dso', '--ns'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const samples = script.split('\n').flatMap((line) => {
    const m = SAMPLE.exec(line);
    return m ? [{ comm: m[1]!, pid: m[2]!, main: m[2] === m[3], at: Number(m[4]), sym: m[5]!, dso: m[6]! }] : [];
  });
  // A worker's name is its main thread's: `s:` or `c:`, then the implementation.
  const names = new Map<string, string>();
  for (const s of samples) if (s.main && /^[sc]:/.test(s.comm)) names.set(s.pid, s.comm);

  const kinds = new Map<string, Map<string, number>>();
  const symbols = new Map<string, Map<string, number>>();
  const add = (table: Map<string, Map<string, number>>, name: string, key: string): void => {
    const counts = table.get(name) ?? new Map<string, number>();
    counts.set(key, (counts.get(key) ?? 0) + 1);
    table.set(name, counts);
  };
  for (const s of samples) {
    const name = names.get(s.pid);
    if (name === undefined || !(windows.get(name.slice(2)) ?? []).some((w) => s.at >= w.from && s.at <= w.to)) continue;
    const kind = kindOf(s.dso);
    add(kinds, name, s.main ? kind : `${kind} (bg)`);
    add(symbols, name, `${kind}: ${s.sym}`);
  }
  for (const name of [...kinds.keys()].sort()) {
    const counts = kinds.get(name)!;
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const seconds = (windows.get(name.slice(2)) ?? []).reduce((sum, w) => sum + w.to - w.from, 0);
    const parts = [...counts].sort((a, b) => b[1] - a[1]).map(([kind, n]) => `${kind} ${n}`);
    console.log(`${name}: ${total} samples in ${seconds.toFixed(2)} s of rounds (${parts.join(', ')})`);
    const ranked = [...symbols.get(name)!].sort((a, b) => b[1] - a[1]).slice(0, Number(top));
    for (const [symbol, n] of ranked) console.log(`  ${String(n).padStart(6)}  ${symbol.slice(0, 110)}`);
  }
}

main();
