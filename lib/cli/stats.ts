/**
 * The `stats` command of every console: a hub's snapshot (`hub.stats()`) as one console event,
 * printed for people in two lines (traffic; closes and refusals by reason, those that happened)
 * or as one JSON line.
 */
import type { HubStats } from '../hub/hub-stats.js';
import { formatBytes } from '../filer/transfer/events.js';
import { UsageError } from './args.js';

/** The `stats` event: the snapshot's fields, and `handshaking` for a TLS server. */
export type StatsEvent = { readonly event: 'stats' } & HubStats & { readonly handshaking?: number };

/** The line `help` shows for it. */
export const STATS_HELP = 'stats [--json]           traffic, queued bytes, connections, closes and refusals by reason';

/**
 * Reads the arguments of `stats`: nothing, or `--json` for one JSON line whatever the console prints.
 * @throws UsageError for anything else
 */
export function parseStatsArgs(rest: string): { readonly json: boolean } {
  const text = rest.trim();
  if (text !== '' && text !== '--json') throw new UsageError('usage: stats [--json]');
  return { json: text === '--json' };
}

/** Prints a snapshot as the console prints everything, or (`json`) as one JSON line whatever it prints. */
export function printStats(printer: { print(event: StatsEvent): void; line(text: string): void }, stats: HubStats, json: boolean): void {
  const event = statsEvent(stats);
  if (json) printer.line(JSON.stringify(event));
  else printer.print(event);
}

/** The event of a snapshot. */
export function statsEvent(stats: HubStats): StatsEvent {
  return { event: 'stats', ...stats };
}

/**
 * The human form: traffic on the first line, closes and refusals on the second.
 * @example
 * // 2 open (0 authenticating), in 14 messages 1.2 kB, out 9 messages 640 B, 0 B queued
 * // closes: peer-closed 3, frame-timeout 1; refusals: max-connections 2
 */
export function humanStats(event: StatsEvent): string {
  const waiting = [`${event.authenticating} authenticating`, ...(event.handshaking !== undefined ? [`${event.handshaking} handshaking`] : [])];
  return [
    `${event.connections} open (${waiting.join(', ')}), in ${plural(event.messagesIn, 'message')} ${formatBytes(event.bytesIn)}, ` +
      `out ${plural(event.messagesOut, 'message')} ${formatBytes(event.bytesOut)}, ${formatBytes(event.queuedBytes)} queued`,
    `closes: ${counts(event.closes)}; refusals: ${counts(event.refusals)}`,
  ].join('\n');
}

function counts(byReason: Readonly<Record<string, number>>): string {
  const happened = Object.entries(byReason).filter(([, n]) => n > 0);
  return happened.length === 0 ? 'none' : happened.map(([reason, n]) => `${reason} ${n}`).join(', ');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
