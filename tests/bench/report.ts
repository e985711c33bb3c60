/**
 * The results as a table (median, min, max of the rounds; the median's ratio to reference (a);
 * errors; the server's peak RSS) and as JSON, with the machine they were measured on.
 */
import { cpus, loadavg, release, totalmem } from 'node:os';
import { IMPL_LABELS, REFERENCE, type ImplName } from './impls/index.js';
import type { ImplResult, Scenario } from './scenarios/scenario.js';

export interface Machine {
  readonly cores: number;
  readonly cpu: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly os: string;
  /** Load averages (1, 5, 15 min) when the run started: other work on the machine skews results. */
  readonly loadAtStart: readonly number[];
}

export function describeMachine(): Machine {
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    os: `${process.platform} ${release()}`,
    loadAtStart: loadavg().map((n) => Math.round(n * 100) / 100),
  };
}

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function summarize(samples: readonly number[]): Summary | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

export interface ScenarioReport {
  readonly scenario: Scenario;
  readonly params: Record<string, number>;
  readonly results: Map<ImplName, ImplResult>;
}

function format(value: number, unit: string): string {
  if (!Number.isFinite(value)) return '—';
  switch (unit) {
    case 'msg/s':
    case 'deliveries/s':
      return value >= 1e6 ? `${(value / 1e6).toFixed(2)} M` : `${(value / 1e3).toFixed(0)} k`;
    case 'MB/s':
      return value.toFixed(0);
    case 'µs':
      return value.toFixed(value < 100 ? 1 : 0);
    case 'bytes':
      return Math.abs(value) >= 1024 ? `${(value / 1024).toFixed(1)} KiB` : `${value.toFixed(0)} B`;
    case '×':
      return `${value.toFixed(2)}×`;
    default:
      return String(value);
  }
}

function ratio(value: Summary | undefined, reference: Summary | undefined): string {
  if (!value || !reference || reference.median === 0) return '—';
  return `${(value.median / reference.median).toFixed(2)}`;
}

/**
 * A throughput row's receiving server: median CPU time (all threads) and minor page faults per
 * message over the measured rounds; '—' for the other rows.
 */
function serverCost(rounds: unknown): string {
  if (!Array.isArray(rounds)) return '—';
  const measured = (rounds as { serverCpuUsPerMessage?: number; serverFaultsPerMessage?: number }[]).filter(
    (r) => r.serverCpuUsPerMessage !== undefined && r.serverFaultsPerMessage !== undefined,
  );
  const cpu = summarize(measured.map((r) => r.serverCpuUsPerMessage!));
  const faults = summarize(measured.map((r) => r.serverFaultsPerMessage!));
  if (!cpu || !faults) return '—';
  return `${cpu.median < 10 ? cpu.median.toFixed(1) : cpu.median.toFixed(0)} µs, ${faults.median.toFixed(1)} faults`;
}

/** The table: one row per metric and implementation. */
export function table(reports: readonly ScenarioReport[]): string {
  const header = ['scenario', 'unit', 'implementation', 'median', 'min', 'max', '× (a)', 'errors', 'server peak RSS', 'full GCs s/c', 'server per msg'];
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const { scenario, results } of reports) {
    for (const metric of scenario.metrics) {
      let first = true;
      for (const [impl, result] of results) {
        const summary = summarize(result.samples[metric.key] ?? []);
        const reference = summarize(results.get(REFERENCE)?.samples[metric.key] ?? []);
        rows.push([
          first ? metric.label : '',
          first ? `${metric.unit} (${metric.better} is better)` : '',
          IMPL_LABELS[impl],
          result.failed ? 'FAILED' : summary ? format(summary.median, metric.unit) : '—',
          summary ? format(summary.min, metric.unit) : '—',
          summary ? format(summary.max, metric.unit) : '—',
          ratio(summary, reference),
          String(result.errors),
          result.serverMaxRssKiB ? `${(result.serverMaxRssKiB / 1024).toFixed(0)} MiB` : '—',
          result.gc ? `${result.gc.server.majorGcs}/${result.gc.client.majorGcs}` : '—',
          serverCost(result.extra['rounds']),
        ]);
        first = false;
      }
    }
    for (const [impl, result] of results) {
      if (result.failed) notes.push(`${scenario.title}, ${IMPL_LABELS[impl]}: FAILED: ${result.failed}`);
      if (result.firstError) notes.push(`${scenario.title}, ${IMPL_LABELS[impl]}: first error: ${result.firstError}`);
      for (const note of result.notes) notes.push(`${scenario.title}, ${IMPL_LABELS[impl]}: ${note}`);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const numeric = new Set([3, 4, 5, 6, 7, 8, 10]);
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  if (notes.length > 0) out.push('', ...notes);
  return out.join('\n');
}

/** The JSON file's content. */
export function toJson(reports: readonly ScenarioReport[], machine: Machine, mode: Record<string, unknown>): Record<string, unknown> {
  return {
    date: new Date().toISOString(),
    machine,
    mode,
    reference: REFERENCE,
    scenarios: reports.map(({ scenario, params, results }) => ({
      id: scenario.id,
      title: scenario.title,
      params,
      metrics: scenario.metrics.map((metric) => ({
        ...metric,
        results: Object.fromEntries(
          [...results].map(([impl, result]) => {
            const summary = summarize(result.samples[metric.key] ?? []);
            const reference = summarize(results.get(REFERENCE)?.samples[metric.key] ?? []);
            return [
              impl,
              {
                ...summary,
                samples: result.samples[metric.key],
                ratioToReference: summary && reference ? summary.median / reference.median : null,
              },
            ];
          }),
        ),
      })),
      implementations: Object.fromEntries(
        [...results].map(([impl, r]) => [
          impl,
          {
            errors: r.errors,
            firstError: r.firstError ?? null,
            failed: r.failed ?? null,
            serverMaxRssKiB: r.serverMaxRssKiB ?? null,
            clientMaxRssKiB: r.clientMaxRssKiB ?? null,
            gc: r.gc ?? null,
            notes: r.notes,
            ...r.extra,
          },
        ]),
      ),
    })),
  };
}
