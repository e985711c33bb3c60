/**
 * A peer's address book: the other peers, as the tracker's latest broadcast lists them. Each
 * broadcast is the whole table, so it replaces the book; `update` says who joined, left or moved.
 *
 * The peer leaves itself out by its name, whatever address the tracker sees it at (the seed left
 * itself out only when listed as 127.0.0.1: defect 11). An entry with this peer's name but another
 * port is another program using the same name: it is left out too (a name must name one peer) and
 * reported as `sameName`, so that the user can be told.
 */
import type { PeerEntry } from './vocabulary.js';

/** What one broadcast changed. */
export interface AddressBookChange {
  /** Names new to the book. */
  readonly joined: readonly PeerEntry[];
  /** Names no longer listed. */
  readonly left: readonly PeerEntry[];
  /** Names listed at another address or port than before (the new entry). */
  readonly moved: readonly PeerEntry[];
  /** Entries with this peer's own name and another port: someone else uses the name. */
  readonly sameName: readonly PeerEntry[];
}

/**
 * @example
 * const book = new AddressBook({ id: 'alice', port: 63330 });
 * book.update([{ id: 'alice', host: '10.1.2.3', port: 63330 }, { id: 'bob', host: '10.1.2.4', port: 63330 }]);
 * book.entries // [{ id: 'bob', host: '10.1.2.4', port: 63330 }]
 */
export class AddressBook {
  private book = new Map<string, PeerEntry>();

  /** @param self this peer's name and the port it reports. */
  constructor(readonly self: { readonly id: string; readonly port: number }) {}

  /** The other peers, in the tracker's order. */
  get entries(): PeerEntry[] {
    return [...this.book.values()];
  }

  /** The entry of a name. */
  get(id: string): PeerEntry | undefined {
    return this.book.get(id);
  }

  /** The entry listed at this address and port. */
  at(host: string, port: number): PeerEntry | undefined {
    for (const entry of this.book.values()) if (entry.host === host && entry.port === port) return entry;
    return undefined;
  }

  /** True when the entry stands for this peer or for another program using this peer's name. */
  isOwnName(entry: PeerEntry): boolean {
    return entry.id === this.self.id;
  }

  /** Replaces the book with a broadcast's entries (this peer left out) and says what changed. */
  update(entries: readonly PeerEntry[]): AddressBookChange {
    const next = new Map<string, PeerEntry>();
    const sameName: PeerEntry[] = [];
    for (const entry of entries) {
      if (this.isOwnName(entry)) {
        if (entry.port !== this.self.port) sameName.push(entry);
      } else if (!next.has(entry.id)) {
        next.set(entry.id, Object.freeze({ id: entry.id, host: entry.host, port: entry.port }));
      }
    }
    const joined: PeerEntry[] = [];
    const moved: PeerEntry[] = [];
    for (const entry of next.values()) {
      const before = this.book.get(entry.id);
      if (!before) joined.push(entry);
      else if (before.host !== entry.host || before.port !== entry.port) moved.push(entry);
    }
    const left = [...this.book.values()].filter((entry) => !next.has(entry.id));
    this.book = next;
    return { joined, left, moved, sameName };
  }
}
