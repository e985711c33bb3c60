/**
 * The bridge's picture of the other hubs' connections, as a pure state machine. It changes in two
 * ways: at once, from the `joined`/`left`/`bye` envelopes other hubs publish; and from full reads of
 * the presence entries in Redis (`reconcile`), which catch what the envelopes missed, above all a
 * crashed hub whose entry expired. A read takes a while: a change that arrived by envelope after
 * the read began is newer than the read, and the read does not undo it.
 */
import type { Address } from '../connection/close-reason.js';

/** One connection of the cluster. */
export interface ClusterConnection {
  /** Its id, unique in the cluster (`<hubId>.c<n>`). */
  readonly id: string;
  /** The hub it is on. */
  readonly hubId: string;
  /** True when it is on this bridge's own hub. */
  readonly local: boolean;
  /** Where it comes from, as its hub sees it, when known. */
  readonly addr?: Address | undefined;
}

/** Why a connection left the cluster view. */
export type ClusterLeaveReason =
  /** Its hub said it closed. */
  | 'closed'
  /** Its hub's presence entry expired: the hub stopped refreshing it (a crash, a lost network). */
  | 'expired'
  /** Its hub stopped. */
  | 'hub-stopped';

/** A connection opened or closed somewhere in the cluster. */
export type ClusterEvent =
  | { readonly type: 'open'; readonly connection: ClusterConnection }
  | { readonly type: 'close'; readonly connection: ClusterConnection; readonly reason: ClusterLeaveReason };

/** What a full read found: for each hub whose entry exists, its connection ids and addresses. */
export type PresenceSnapshot = ReadonlyMap<string, ReadonlyMap<string, Address | undefined>>;

export class ClusterView {
  private readonly byId = new Map<string, ClusterConnection>();
  /** The read epoch in force when an envelope last changed an id. */
  private readonly touched = new Map<string, number>();
  private epoch = 0;

  /** The remote connections, in the order they were learnt. */
  get connections(): ClusterConnection[] {
    return [...this.byId.values()];
  }

  /** The hubs that have connections in the view. */
  get hubs(): Set<string> {
    return new Set([...this.byId.values()].map((c) => c.hubId));
  }

  get(id: string): ClusterConnection | undefined {
    return this.byId.get(id);
  }

  /** Call before starting a full read; pass what it returns to `reconcile`. */
  begin(): number {
    return ++this.epoch;
  }

  /** A `joined` envelope. */
  add(connection: ClusterConnection): ClusterEvent | undefined {
    this.touched.set(connection.id, this.epoch);
    if (this.byId.has(connection.id)) return undefined;
    this.byId.set(connection.id, connection);
    return { type: 'open', connection };
  }

  /** A `left` envelope. */
  remove(id: string, reason: ClusterLeaveReason): ClusterEvent | undefined {
    this.touched.set(id, this.epoch);
    const connection = this.byId.get(id);
    if (!connection) return undefined;
    this.byId.delete(id);
    return { type: 'close', connection, reason };
  }

  /** A `bye` envelope: every connection of the hub leaves. */
  removeHub(hubId: string, reason: ClusterLeaveReason): ClusterEvent[] {
    const events: ClusterEvent[] = [];
    for (const connection of [...this.byId.values()]) {
      if (connection.hubId === hubId) events.push(this.remove(connection.id, reason)!);
    }
    return events;
  }

  /**
   * Brings the view to what a full read found, except for the ids an envelope changed since the
   * read began. A hub missing from the snapshot has expired, unless it is in `spare` (hubs given
   * time to write their entry again, after Redis restarted empty).
   */
  reconcile(snapshot: PresenceSnapshot, readEpoch: number, spare: ReadonlySet<string> = new Set()): ClusterEvent[] {
    const events: ClusterEvent[] = [];
    const newer = (id: string) => (this.touched.get(id) ?? -1) >= readEpoch;
    for (const connection of [...this.byId.values()]) {
      const entry = snapshot.get(connection.hubId);
      if (entry?.has(connection.id) || newer(connection.id)) continue;
      if (!entry && spare.has(connection.hubId)) continue;
      this.byId.delete(connection.id);
      events.push({ type: 'close', connection, reason: entry ? 'closed' : 'expired' });
    }
    for (const [hubId, ids] of snapshot) {
      for (const [id, addr] of ids) {
        if (this.byId.has(id) || newer(id)) continue;
        const connection: ClusterConnection = { id, hubId, local: false, addr };
        this.byId.set(id, connection);
        events.push({ type: 'open', connection });
      }
    }
    for (const [id, epoch] of this.touched) if (epoch < readEpoch) this.touched.delete(id);
    return events;
  }
}
