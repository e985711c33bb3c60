/**
 * The bridge's outbox: envelopes that wait, in order, while Redis cannot take them. It is bounded
 * in count and in bytes; an envelope that would pass either bound is refused and counted, so a long
 * outage costs a known amount of memory and the envelopes kept are the oldest, in order.
 */

/** One envelope waiting for Redis, with the channel it goes to. */
export interface Pending {
  readonly channel: string;
  readonly payload: Buffer;
}

export class Outbox {
  /** Envelopes refused because the outbox was full, since it was made. */
  overflow = 0;
  private items: Pending[] = [];
  private bytes = 0;

  /**
   * @param maxCount envelopes held at most
   * @param maxBytes payload bytes held at most
   */
  constructor(
    readonly maxCount: number,
    readonly maxBytes: number,
  ) {}

  /** Envelopes waiting. */
  get length(): number {
    return this.items.length;
  }

  /** Payload bytes waiting. */
  get queuedBytes(): number {
    return this.bytes;
  }

  /** Adds an envelope at the end; false (and counted in `overflow`) when it does not fit. */
  push(item: Pending): boolean {
    if (this.length >= this.maxCount || this.bytes + item.payload.length > this.maxBytes) {
      this.overflow++;
      return false;
    }
    this.items.push(item);
    this.bytes += item.payload.length;
    return true;
  }

  /** Takes every waiting envelope, oldest first, and empties the outbox. */
  drain(): Pending[] {
    const out = this.items;
    this.items = [];
    this.bytes = 0;
    return out;
  }
}
