/** Writes console events to a stream: one line each, for people or (`--json`) as JSON. */
import type { Writable } from 'node:stream';
import type { ConsoleEvent } from './events.js';
import { humanStats } from './stats.js';
import { oneLine } from './text.js';

/** Where console events go. */
export interface Printer {
  print(event: ConsoleEvent): void;
  /** Writes one line as it is. */
  line(text: string): void;
}

/**
 * A printer writing to `out` (default stdout). JSON mode writes every event as one JSON line;
 * human mode writes one line per event (`list` and `help` print one line per item).
 * @example
 * createPrinter({ json: true }).print({ event: 'listening', host: '127.0.0.1', port: 5000 });
 * // {"event":"listening","host":"127.0.0.1","port":5000}
 */
export function createPrinter({ json, out = process.stdout }: { json: boolean; out?: Writable }): Printer {
  // A reader that went away (EPIPE) must not crash the process; the console stops on it instead.
  out.on('error', () => {});
  return {
    print(event) {
      out.write((json ? JSON.stringify(event) : human(event)) + '\n');
    },
    line(text) {
      out.write(text + '\n');
    },
  };
}

/** The human form of an event. */
export function human(event: ConsoleEvent): string {
  switch (event.event) {
    case 'listening':
      return `listening on ${event.host.includes(':') ? `[${event.host}]` : event.host}:${event.port}`;
    case 'open':
      return `open ${event.id} ${event.addr} (${event.alive} alive)`;
    case 'close':
      return `close ${event.id} ${event.addr}: ${event.reason}${event.error ? ` (${oneLine(event.error)})` : ''}, ${event.alive} alive`;
    case 'message': {
      const shown = event.text !== undefined ? oneLine(event.text) : `header ${JSON.stringify(event.header)}`;
      const size = event.contentBytes > 0 ? ` [${event.contentBytes} bytes of content]` : '';
      return `message ${event.from} ${event.addr}: ${shown}${size}`;
    }
    case 'dial-failed':
      return `dial failed: ${oneLine(event.error)}`;
    case 'list':
      if (event.connections.length === 0) return 'no connections';
      return event.connections.map((c) => `${c.index} ${c.id} ${c.addr}`).join('\n');
    case 'sent':
      return `sent to ${event.to} ${event.addr}`;
    case 'broadcast': {
      const total = event.to.length + event.failed.length;
      return `broadcast sent to ${event.to.length}${event.failed.length > 0 ? ` of ${total}` : ''} connection${total === 1 ? '' : 's'}`;
    }
    case 'help':
      return event.commands.join('\n');
    case 'error':
      return `error: ${oneLine(event.message)}`;
    case 'stats':
      return humanStats(event);
    case 'stopped':
      return 'stopped';
  }
}
