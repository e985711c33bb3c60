/**
 * The hook through which trackers share one peer table (the filer at scale): a tracker given a
 * `SharedPeerTable` writes each report to it and lists, in its broadcasts, every peer the table
 * holds, whichever tracker the peer reports to. Expiry is the table's: an entry leaves it when no
 * tracker has had a report of that peer for `expireMs`. `rx-tcp-hub/redis` has one on Redis
 * (`RedisPeerTable`); the core has no implementation and no dependency for it.
 */
import type { PeerEntry } from './vocabulary.js';

/** A peer table shared by several trackers. Its methods return at once; the I/O is the table's own. */
export interface SharedPeerTable {
  /** A peer reported to this tracker, listed as given. */
  report(peer: PeerEntry): void;
  /** The peer's connection to this tracker closed: it leaves the table unless it reported to another tracker since. */
  remove(id: string): void;
  /** Every peer the table lists now, in the order they joined (a snapshot the table keeps fresh). */
  entries(): readonly PeerEntry[];
}

/**
 * What a tracker broadcasts: its own peers as it has them now, then the shared table's others.
 * @example
 * listedPeers([alice], [bob, alice]) // [alice, bob]
 */
export function listedPeers(local: readonly PeerEntry[], shared: readonly PeerEntry[]): PeerEntry[] {
  const seen = new Set(local.map((peer) => peer.id));
  return [...local, ...shared.filter((peer) => !seen.has(peer.id))];
}
