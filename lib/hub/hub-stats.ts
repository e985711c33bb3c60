/**
 * What a hub counts: traffic over every connection it ever had, its closes by reason and its
 * refusals by reason. Closed connections are folded into running totals once, at their close;
 * live ones are summed only when a snapshot is asked for.
 */
import { CloseReasonKind } from '../connection/close-reason.js';
import type { ConnectionStats } from '../connection/metrics.js';

/** Why a hub refused a connection before it could open. */
export const RefusalReason = {
  /** The hub already had `maxConnections` connections. */
  MaxConnections: 'max-connections',
  /** The hub was stopped. */
  Stopped: 'stopped',
} as const;

export type RefusalReason = (typeof RefusalReason)[keyof typeof RefusalReason];

/** A snapshot of a hub (`hub.stats()`). Traffic totals count every connection since the hub was made. */
export interface HubStats {
  /** Live connections: authenticated (when the hub authenticates) and open. */
  readonly connections: number;
  /** Connections still waiting to pass `authenticate`. */
  readonly authenticating: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  /** Bytes queued and not yet handed to the kernel, over every connection (closing ones included). */
  readonly queuedBytes: number;
  /** Connections closed, by reason (every reason is present, 0 when none). */
  readonly closes: Readonly<Record<CloseReasonKind, number>>;
  /** Connections refused, by reason (every reason is present, 0 when none). */
  readonly refusals: Readonly<Record<RefusalReason, number>>;
}

/** The hub's running totals; `snapshot` adds the connections still open. */
export class HubTally {
  private bytesIn = 0;
  private bytesOut = 0;
  private messagesIn = 0;
  private messagesOut = 0;
  private readonly closes = zeroes(Object.values(CloseReasonKind));
  private readonly refusals = zeroes(Object.values(RefusalReason));

  /** Counts a refusal. */
  refused(reason: RefusalReason): void {
    this.refusals[reason]++;
  }

  /** Counts a close and folds the connection's final traffic into the totals. */
  closed(reason: CloseReasonKind, final: ConnectionStats): void {
    this.closes[reason]++;
    this.bytesIn += final.bytesIn;
    this.bytesOut += final.bytesOut;
    this.messagesIn += final.messagesIn;
    this.messagesOut += final.messagesOut;
  }

  snapshot(connections: number, authenticating: number, open: Iterable<ConnectionStats>, queuedBytes: number): HubStats {
    let { bytesIn, bytesOut, messagesIn, messagesOut } = this;
    for (const s of open) {
      bytesIn += s.bytesIn;
      bytesOut += s.bytesOut;
      messagesIn += s.messagesIn;
      messagesOut += s.messagesOut;
    }
    return {
      connections,
      authenticating,
      bytesIn,
      bytesOut,
      messagesIn,
      messagesOut,
      queuedBytes,
      closes: { ...this.closes },
      refusals: { ...this.refusals },
    };
  }
}

/**
 * The snapshots of several hubs added up, field by field and reason by reason (a Server's extra
 * counts, such as its TLS handshakes, included). Of none: a snapshot of zeroes.
 * @example
 * sumStats([peer.server.stats(), peer.client.stats()]).connections // both directions
 */
export function sumStats(snapshots: readonly HubStats[]): HubStats {
  const sum: Record<string, unknown> = { ...new HubTally().snapshot(0, 0, [], 0) };
  for (const snapshot of snapshots) {
    for (const [key, value] of Object.entries(snapshot)) {
      if (typeof value === 'number') sum[key] = ((sum[key] as number | undefined) ?? 0) + value;
      else sum[key] = addCounts((sum[key] ?? {}) as Record<string, number>, value as Record<string, number>);
    }
  }
  return sum as unknown as HubStats;
}

function addCounts(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): Record<string, number> {
  const sum = { ...a };
  for (const [key, value] of Object.entries(b)) sum[key] = (sum[key] ?? 0) + value;
  return sum;
}

function zeroes<K extends string>(keys: readonly K[]): Record<K, number> {
  const counts = {} as Record<K, number>;
  for (const key of keys) counts[key] = 0;
  return counts;
}
