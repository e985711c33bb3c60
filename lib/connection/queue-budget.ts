/**
 * A hub's budget for bytes held over all its connections: queued ones (`maxQueuedBytesTotal`) and,
 * with holders and an error of its own, those of partly received frames (`maxInboundBytesTotal`).
 * Without it, 10,000 stalled peers could hold 10,000 x `maxQueueBytes`. Each connection charges the bytes it
 * accepts and accounts its real queue when it moves (at the end of a tick that wrote, when its
 * socket's buffer empties, at its close), so the total is an upper bound that nothing per frame
 * has to scan. Only when a charge would pass the budget are the queues looked at one by one; then
 * the connections holding the most are shed first, until the frame fits with a sixteenth of the
 * budget to spare: without that margin, a broadcast to thousands of stalled connections would look
 * at all of them again for each of its targets.
 */
import { HubQueueFullError, type HubBudgetError, type RxTcpHubError } from '../errors.js';

/** Makes the error of a budget passed (`HubQueueFullError`, `InboundBudgetError`). */
export type BudgetError = (totalBytes: number, maxBytes: number, shedId?: string, shedBytes?: number) => HubBudgetError;

/** What the budget knows of one connection; a Messenger is one. */
export interface BudgetHolder {
  readonly id: string;
  /** Bytes charged to the budget and not given back yet; the budget alone writes it. */
  budgetedBytes: number;
  /** Bytes queued now: the kernel may have taken some since the latest account. */
  readonly queuedBytes: number;
  /** Closes the connection (as `slow-consumer` for the outbound budget), or destroys it when it is closed and still flushing. */
  shed(error: RxTcpHubError): void;
}

export class QueueBudget {
  private total = 0;

  /**
   * @param maxBytes the budget; 0 turns it off
   * @param holders every connection that may hold bytes (the hub's unreleased ones), read only when the budget is passed
   * @param error the error of a shed, or of a charge larger than the whole budget
   */
  constructor(
    readonly maxBytes: number,
    private readonly holders: () => Iterable<BudgetHolder>,
    private readonly error: BudgetError = (...args) => new HubQueueFullError(...args),
  ) {}

  /** Bytes charged over all connections: at least what they hold. */
  get totalBytes(): number {
    return this.total;
  }

  /**
   * `holder` accepts a frame of `bytes`. Past the budget, the connections holding the most are
   * shed until it fits.
   * @throws HubQueueFullError (or the budget's own error) when `holder` itself was shed, or the frame is larger than the whole
   *   budget (then nothing is shed); nothing was charged
   */
  charge(holder: BudgetHolder, bytes: number): void {
    if (this.maxBytes > 0 && this.total + bytes > this.maxBytes) this.makeRoom(holder, bytes);
    holder.budgetedBytes += bytes;
    this.total += bytes;
  }

  /** `holder` holds `heldBytes` now: charged when it grew (which may shed), accounted when it shrank. */
  hold(holder: BudgetHolder, heldBytes: number): void {
    if (heldBytes > holder.budgetedBytes) this.charge(holder, heldBytes - holder.budgetedBytes);
    else if (heldBytes < holder.budgetedBytes) this.account(holder, heldBytes);
  }

  /** `holder`'s queue holds `queuedBytes` now. */
  account(holder: BudgetHolder, queuedBytes: number): void {
    this.total += queuedBytes - holder.budgetedBytes;
    holder.budgetedBytes = queuedBytes;
  }

  /** `holder` holds nothing any more (its socket was destroyed, or has closed). */
  release(holder: BudgetHolder): void {
    this.account(holder, 0);
  }

  private makeRoom(holder: BudgetHolder, bytes: number): void {
    if (bytes > this.maxBytes) throw this.error(bytes, this.maxBytes);
    // The charges are upper bounds: first learn what each really holds now.
    const held: BudgetHolder[] = [];
    for (const h of this.holders()) {
      if (h.budgetedBytes === 0) continue;
      this.account(h, h.queuedBytes);
      if (h.budgetedBytes > 0) held.push(h);
    }
    if (this.total + bytes <= this.maxBytes) return;
    const target = Math.max(bytes, this.maxBytes - Math.floor(this.maxBytes / 16));
    held.sort((a, b) => b.budgetedBytes - a.budgetedBytes);
    for (const h of held) {
      const error = this.error(this.total + bytes, this.maxBytes, h.id, h.budgetedBytes);
      this.release(h);
      h.shed(error);
      if (h === holder) throw error;
      if (this.total + bytes <= target) return;
    }
  }
}
