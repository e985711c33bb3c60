/** Durations on the command line: `500ms`, `2s`, `1.5s`, `1m`, `1h`; a bare number is milliseconds. */
import { UsageError } from './args.js';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** The longest a timer can wait. */
const MAX_MS = 2 ** 31 - 1;

/**
 * Parses a duration into whole milliseconds, at least 1.
 * @param what names the argument in the error message, e.g. `--interval`.
 * @throws UsageError naming the offending text
 * @example
 * parseDuration('2s')    // 2000
 * parseDuration('500ms') // 500
 * parseDuration('250')   // 250
 */
export function parseDuration(text: string, what = 'duration'): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$/.exec(text.trim());
  const ms = match ? Math.round(Number(match[1]) * UNITS[match[2] ?? 'ms']!) : NaN;
  if (!(ms >= 1 && ms <= MAX_MS)) {
    throw new UsageError(`${what}: expected a duration such as 500ms, 2s or 1m (a bare number is ms), got ${JSON.stringify(text)}`);
  }
  return ms;
}

/**
 * A duration for people: `750 ms`, `2 s`, `1.5 s`, `2 min`.
 * @example
 * formatDuration(6000) // '6 s'
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))} s`;
  return `${Number((ms / 60_000).toFixed(1))} min`;
}
