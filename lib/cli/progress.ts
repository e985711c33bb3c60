/**
 * Transfer progress for people: a bar with the rate and the time left, redrawn in place on a
 * terminal, or one plain line per transfer every few seconds when the output is a file or a pipe.
 * No dependency: the bar is a few characters of text.
 */
import type { TransferSnapshot } from '../filer/transfer/events.js';
import { formatBytes, formatRate } from '../filer/transfer/events.js';

/**
 * A transfer's progress on one line.
 * @param width the bar's width in characters; 0 leaves the bar out (the plain form)
 * @example
 * progressLine(snapshot, 20) // 't1 big.bin [########............] 42%  3.5 MB / 8.4 MB  120.3 MB/s  0:02 left'
 * progressLine(snapshot, 0)  // 't1 big.bin 42%  3.5 MB / 8.4 MB  120.3 MB/s  0:02 left'
 */
export function progressLine(snapshot: TransferSnapshot, width = 20): string {
  const { id, name, size, bytes, bytesPerSecond, etaMs } = snapshot;
  const fraction = size === undefined ? undefined : size === 0 ? 1 : Math.min(1, bytes / size);
  const percent = fraction === undefined ? '?%' : `${Math.floor(fraction * 100)}%`;
  const filled = fraction === undefined ? 0 : Math.round(fraction * width);
  const bar = width > 0 ? ` [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]` : '';
  const amount = size === undefined ? formatBytes(bytes) : `${formatBytes(bytes)} / ${formatBytes(size)}`;
  const rate = bytesPerSecond > 0 ? `  ${formatRate(bytesPerSecond)}` : '';
  const left = etaMs === undefined ? '' : `  ${clock(etaMs)} left`;
  return `${id} ${name}${bar} ${percent}  ${amount}${rate}${left}`;
}

/** Minutes and seconds (`1:05`), or hours too (`2:01:05`), rounded up to the second. */
export function clock(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** Where progress goes. */
export interface ProgressSink {
  /** Prints one line of its own (the plain form), made from the snapshot. */
  line(text: string, snapshot: TransferSnapshot): void;
  /** Replaces the status line (the terminal form); an empty string clears it. */
  status(text: string): void;
}

export interface ProgressOptions {
  /** Draw a bar on the status line (a terminal), instead of printing lines. */
  readonly tty: boolean;
  /** Plain form: time between two lines of one transfer. */
  readonly everyMs: number;
  /** Terminal form: least time between two redraws. Default 100 ms. */
  readonly redrawMs?: number;
  /** Terminal width for the status line. Default 80. */
  readonly columns?: () => number;
  /** The clock, in ms. Default `Date.now`. */
  readonly now?: () => number;
}

/**
 * Follows the active transfers' progress and shows it: on a terminal, one status line with a bar
 * per transfer, redrawn at most every `redrawMs`; otherwise a line per transfer every `everyMs`.
 */
export class ProgressDisplay {
  private readonly active = new Map<string, { snapshot: TransferSnapshot; shownAt: number }>();
  private drawnAt = -Infinity;
  private readonly now: () => number;

  constructor(
    private readonly sink: ProgressSink,
    private readonly options: ProgressOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** A transfer moved on. */
  update(snapshot: TransferSnapshot): void {
    const now = this.now();
    const known = this.active.get(snapshot.id);
    // The plain form waits one interval before the first line: a short transfer shows only its summary.
    const entry = { snapshot, shownAt: known?.shownAt ?? now };
    this.active.set(snapshot.id, entry);
    if (this.options.tty) {
      if (now - this.drawnAt >= (this.options.redrawMs ?? 100)) this.draw(now);
    } else if (now - entry.shownAt >= this.options.everyMs) {
      entry.shownAt = now;
      this.sink.line(progressLine(snapshot, 0), snapshot);
    }
  }

  /** A transfer ended: it leaves the display. */
  end(id: string): void {
    if (!this.active.delete(id)) return;
    if (this.options.tty) this.draw(this.now());
  }

  /** The status line as it should be now ('' when nothing is active). */
  get statusText(): string {
    if (!this.options.tty || this.active.size === 0) return '';
    const columns = Math.max(20, this.options.columns?.() ?? 80) - 1;
    const width = this.active.size === 1 ? 20 : 10;
    const text = [...this.active.values()].map(({ snapshot }) => progressLine(snapshot, width)).join(' | ');
    return text.length > columns ? `${text.slice(0, columns - 1)}…` : text;
  }

  private draw(now: number): void {
    this.drawnAt = now;
    this.sink.status(this.statusText);
  }
}
