/**
 * Writes the filer consoles' events: one line each, for people or (`--json`) as JSON, and the
 * transfers' progress: a status line redrawn in place on a terminal (cleared before any other line
 * is written, drawn again after it), otherwise a progress line every few seconds.
 */
import type { Writable } from 'node:stream';
import type { TransferSnapshot } from '../filer/transfer/events.js';
import { humanFiler, transferInfo, type FilerEvent } from './filer-events.js';
import { ProgressDisplay, progressLine } from './progress.js';

export interface FilerPrinterOptions {
  readonly json: boolean;
  /** Default stdout. */
  readonly out?: Writable & { isTTY?: boolean; columns?: number };
  /** Draw progress bars in place. Default: `out` is a terminal and the output is not JSON. */
  readonly tty?: boolean;
  /** Time between two progress lines of one transfer, when not drawing bars. */
  readonly progressEveryMs: number;
  /** The clock of the progress display. Default `Date.now`. */
  readonly now?: () => number;
}

/** Prints console events and transfer progress. */
export interface FilerPrinter {
  print(event: FilerEvent): void;
  /** A transfer moved on (every acknowledged chunk: the printer throttles). */
  progress(snapshot: TransferSnapshot): void;
  /** A transfer ended: its bar goes. */
  ended(id: string): void;
  /** Writes one line as it is. */
  line(text: string): void;
}

/**
 * @example
 * const printer = createFilerPrinter({ json: false, progressEveryMs: 2000 });
 * printer.print({ event: 'peer-joined', id: 'bob', addr: '127.0.0.1:63331' }); // peer bob 127.0.0.1:63331 joined
 */
export function createFilerPrinter(options: FilerPrinterOptions): FilerPrinter {
  const out = options.out ?? process.stdout;
  // A reader that went away (EPIPE) must not crash the process; the console stops on it instead.
  out.on('error', () => {});
  const tty = options.tty ?? (out.isTTY === true && !options.json);
  let status = '';
  const write = (line: string) => {
    if (status !== '') out.write('\r\x1b[2K');
    out.write(line + '\n');
    if (status !== '') out.write(status);
  };
  const display = new ProgressDisplay(
    {
      line: (_text, snapshot) =>
        write(options.json ? JSON.stringify({ event: 'transfer-progress', transfer: transferInfo(snapshot) }) : progressLine(snapshot, 0)),
      status: (text) => {
        if (text === status) return;
        out.write(`\r\x1b[2K${text}`);
        status = text;
      },
    },
    {
      tty,
      everyMs: options.progressEveryMs,
      columns: () => out.columns || 80,
      ...(options.now ? { now: options.now } : {}),
    },
  );
  return {
    print: (event) => write(options.json ? JSON.stringify(event) : humanFiler(event)),
    progress: (snapshot) => display.update(snapshot),
    ended: (id) => display.end(id),
    line: write,
  };
}
