/**
 * What the tracker and peer consoles report: one `FilerEvent` per line, for people or as JSON,
 * made from the tracker's, the peer's and the transfer engine's events and from command results.
 */
import { formatAddress } from '../connection/close-reason.js';
import type { TrackedPeer, TrackerEvent } from '../filer/tracker.js';
import type { PeerConnection, PeerEvent } from '../filer/peer.js';
import { formatBytes, formatSummary, type TransferEvent, type TransferSnapshot } from '../filer/transfer/events.js';
import type { RemoteFile } from '../filer/transfer/vocabulary.js';
import type { Header } from '../protocol/message.js';
import type { ConsoleEvent } from './events.js';
import { formatDuration } from './duration.js';
import { humanStats } from './stats.js';
import { oneLine } from './text.js';

/** A connection as the peer console shows it. */
export interface ConnectionInfo {
  readonly id: string;
  readonly direction: 'in' | 'out';
  readonly addr: string;
  /** The other peer's name, when known. */
  readonly peer?: string;
}

/** A transfer as the consoles show it: the snapshot's plain fields. */
export interface TransferInfo {
  readonly id: string;
  readonly kind: 'get' | 'put';
  readonly direction: 'send' | 'receive';
  readonly initiator: 'local' | 'peer';
  readonly conn: string;
  readonly name: string;
  readonly state: TransferSnapshot['state'];
  readonly size?: number;
  readonly bytes: number;
  readonly resumedFrom: number;
  readonly bytesPerSecond: number;
  readonly etaMs?: number;
  readonly sha256?: string;
  readonly code?: string;
  readonly error?: string;
}

/** One line of a filer console's output. Core events (`listening`, `help`, `error`, ...) come from `ConsoleEvent`. */
export type FilerEvent =
  | Extract<ConsoleEvent, { event: 'listening' | 'help' | 'error' | 'stopped' | 'broadcast' | 'stats' }>
  // tracker
  | { readonly event: 'join'; readonly id: string; readonly addr: string; readonly conn: string }
  | { readonly event: 'move'; readonly id: string; readonly addr: string; readonly from: string; readonly conn: string }
  | { readonly event: 'leave'; readonly id: string; readonly addr: string; readonly reason: 'expired' | 'closed'; readonly conn: string }
  | { readonly event: 'invalid-report'; readonly conn: string; readonly addr: string; readonly error: string }
  | {
      readonly event: 'table';
      readonly peers: readonly { id: string; addr: string; conn: string; reportedMsAgo: number }[];
    }
  // peer
  | { readonly event: 'tracker'; readonly addr: string; readonly state: 'open' | 'retrying' | 'closed'; readonly error?: string }
  | { readonly event: 'peer-joined' | 'peer-left' | 'peer-moved'; readonly id: string; readonly addr: string }
  | { readonly event: 'name-taken'; readonly id: string; readonly addr: string }
  | { readonly event: 'peers'; readonly peers: readonly { id: string; addr: string }[]; readonly tracker: boolean }
  | ({ readonly event: 'open' } & ConnectionInfo)
  | ({ readonly event: 'close'; readonly reason: string; readonly error?: string } & ConnectionInfo)
  | ({ readonly event: 'message'; readonly header: Header; readonly text?: string; readonly contentBytes: number } & ConnectionInfo)
  | { readonly event: 'list'; readonly connections: readonly (ConnectionInfo & { index: number })[] }
  | ({ readonly event: 'connected'; readonly existing: boolean } & ConnectionInfo)
  | ({ readonly event: 'sent' } & ConnectionInfo)
  | { readonly event: 'closing'; readonly id: string }
  | ({ readonly event: 'files'; readonly files: readonly RemoteFile[] } & ConnectionInfo)
  | { readonly event: 'transfer-requested' | 'transfer-started' | 'transfer-progress' | 'transfer-failed'; readonly transfer: TransferInfo }
  | { readonly event: 'transfer-done'; readonly transfer: TransferInfo; readonly summary: string }
  | { readonly event: 'transfer-cancelled'; readonly transfer: TransferInfo; readonly by: 'local' | 'peer' }
  | { readonly event: 'transfers'; readonly transfers: readonly TransferInfo[] }
  | { readonly event: 'cancelling'; readonly id: string };

/** A tracker event as a console event; undefined for the broadcasts, which are not shown. */
export function trackerEvent(event: TrackerEvent): FilerEvent | undefined {
  switch (event.type) {
    case 'join':
      return { event: 'join', id: event.peer.id, addr: formatAddress(event.peer), conn: event.peer.connection.id };
    case 'move':
      return { event: 'move', id: event.peer.id, addr: formatAddress(event.peer), from: formatAddress(event.from), conn: event.peer.connection.id };
    case 'leave':
      return { event: 'leave', id: event.peer.id, addr: formatAddress(event.peer), reason: event.reason, conn: event.peer.connection.id };
    case 'invalid-report':
      return { event: 'invalid-report', conn: event.connection.id, addr: formatAddress(event.connection.addr), error: event.error.message };
    case 'broadcast':
      return undefined;
  }
}

/** The tracker's table for the `peers` command. */
export function tableEvent(peers: readonly TrackedPeer[], now: number): FilerEvent {
  return { event: 'table', peers: peers.map((p) => ({ id: p.id, addr: formatAddress(p), conn: p.connection.id, reportedMsAgo: now - p.reportedAt })) };
}

/** A peer event as console events (an address-book change may give several). */
export function peerEvents(event: PeerEvent): FilerEvent[] {
  switch (event.type) {
    case 'open':
      return [{ event: 'open', ...connectionInfo(event.connection) }];
    case 'close': {
      const { reason, error } = event.reason;
      return [{ event: 'close', ...connectionInfo(event.connection), reason, ...(error ? { error: error.message } : {}) }];
    }
    case 'message':
      return [
        {
          event: 'message',
          ...connectionInfo(event.connection),
          header: event.header,
          ...(event.text === undefined ? {} : { text: event.text }),
          contentBytes: event.content.length,
        },
      ];
    case 'tracker': {
      const { state } = event;
      const addr = formatAddress(event.address);
      if (state.type === 'open') return [{ event: 'tracker', addr, state: 'open' }];
      if (state.type === 'retrying') return [{ event: 'tracker', addr, state: 'retrying', error: messageOf(state.error) }];
      // Closed without an error is this side's own stop: nothing to tell.
      if (state.type === 'closed' && state.error !== undefined) return [{ event: 'tracker', addr, state: 'closed', error: messageOf(state.error) }];
      return [];
    }
    case 'address-book':
      return [
        ...event.joined.map((p): FilerEvent => ({ event: 'peer-joined', id: p.id, addr: formatAddress(p) })),
        ...event.moved.map((p): FilerEvent => ({ event: 'peer-moved', id: p.id, addr: formatAddress(p) })),
        ...event.left.map((p): FilerEvent => ({ event: 'peer-left', id: p.id, addr: formatAddress(p) })),
        ...event.sameName.map((p): FilerEvent => ({ event: 'name-taken', id: p.id, addr: formatAddress(p) })),
      ];
  }
}

/** A transfer engine event as a console event. */
export function transferEvent(event: TransferEvent): FilerEvent {
  const transfer = transferInfo(event.transfer);
  switch (event.type) {
    case 'requested':
      return { event: 'transfer-requested', transfer };
    case 'started':
      return { event: 'transfer-started', transfer };
    case 'progress':
      return { event: 'transfer-progress', transfer };
    case 'done':
      return { event: 'transfer-done', transfer, summary: `${event.transfer.id} ${formatSummary(event.summary)}` };
    case 'failed':
      return { event: 'transfer-failed', transfer };
    case 'cancelled':
      return { event: 'transfer-cancelled', transfer, by: event.by };
  }
}

export function connectionInfo(connection: PeerConnection): ConnectionInfo {
  const base = { id: connection.id, direction: connection.direction, addr: formatAddress(connection.messenger.addr) };
  return connection.peer === undefined ? base : { ...base, peer: connection.peer };
}

export function transferInfo(snapshot: TransferSnapshot): TransferInfo {
  return {
    id: snapshot.id,
    kind: snapshot.kind,
    direction: snapshot.direction,
    initiator: snapshot.initiator,
    conn: snapshot.connection,
    name: snapshot.name,
    state: snapshot.state,
    ...(snapshot.size === undefined ? {} : { size: snapshot.size }),
    bytes: snapshot.bytes,
    resumedFrom: snapshot.resumedFrom,
    bytesPerSecond: Math.round(snapshot.bytesPerSecond),
    ...(snapshot.etaMs === undefined ? {} : { etaMs: Math.round(snapshot.etaMs) }),
    ...(snapshot.sha256 === undefined ? {} : { sha256: snapshot.sha256 }),
    ...(snapshot.error === undefined ? {} : { code: snapshot.error.code, error: snapshot.error.message }),
  };
}

/** The human form of a filer console event. */
export function humanFiler(event: FilerEvent): string {
  switch (event.event) {
    case 'listening':
      return `listening on ${formatAddress(event)}`;
    case 'help':
      return event.commands.join('\n');
    case 'error':
      return `error: ${oneLine(event.message)}`;
    case 'stopped':
      return 'stopped';
    case 'stats':
      return humanStats(event);
    case 'broadcast': {
      const total = event.to.length + event.failed.length;
      return `broadcast sent to ${event.to.length}${event.failed.length > 0 ? ` of ${total}` : ''} connection${total === 1 ? '' : 's'}`;
    }
    case 'join':
      return `join ${event.id} ${event.addr} (${event.conn})`;
    case 'move':
      return `move ${event.id} ${event.addr} (${event.conn}), was ${event.from}`;
    case 'leave':
      return `leave ${event.id} ${event.addr}: ${event.reason === 'expired' ? 'reports stopped' : 'connection closed'}`;
    case 'invalid-report':
      return `ignored a report from ${event.conn} ${event.addr}: ${oneLine(event.error)}`;
    case 'table':
      if (event.peers.length === 0) return 'no peers';
      return event.peers.map((p) => `${p.id} ${p.addr} (${p.conn}, reported ${formatDuration(p.reportedMsAgo)} ago)`).join('\n');
    case 'tracker':
      if (event.state === 'open') return `tracker ${event.addr} connected`;
      if (event.state === 'retrying') return `tracker ${event.addr} unreachable, retrying${event.error ? ` (${oneLine(event.error)})` : ''}`;
      return `tracker ${event.addr} given up${event.error ? ` (${oneLine(event.error)})` : ''}`;
    case 'peer-joined':
      return `peer ${event.id} ${event.addr} joined`;
    case 'peer-moved':
      return `peer ${event.id} moved to ${event.addr}`;
    case 'peer-left':
      return `peer ${event.id} ${event.addr} left`;
    case 'name-taken':
      return `warning: another peer reports the name ${event.id}, at ${event.addr}`;
    case 'peers':
      if (event.peers.length === 0) return event.tracker ? 'no peers in the address book yet' : 'no peers: no --tracker given; connect <host:port> instead';
      return event.peers.map((p) => `${p.id} ${p.addr}`).join('\n');
    case 'open':
      return `open ${connection(event)}`;
    case 'close':
      return `close ${connection(event)}: ${event.reason}${event.error ? ` (${oneLine(event.error)})` : ''}`;
    case 'message': {
      const shown = event.text !== undefined ? oneLine(event.text) : `header ${JSON.stringify(event.header)}`;
      const size = event.contentBytes > 0 && event.text === undefined ? ` [${event.contentBytes} bytes of content]` : '';
      return `message ${event.id} ${event.peer ?? event.addr}: ${shown}${size}`;
    }
    case 'list':
      if (event.connections.length === 0) return 'no connections';
      return event.connections.map((c) => `${c.index} ${connection(c)}`).join('\n');
    case 'connected':
      return `${event.existing ? 'already connected' : 'connected'}: ${connection(event)}`;
    case 'sent':
      return `sent to ${event.id} ${event.peer ?? event.addr}`;
    case 'closing':
      return `closing ${event.id}`;
    case 'files': {
      const from = `${event.id} ${event.peer ?? event.addr}`;
      if (event.files.length === 0) return `${from} shares no files`;
      const width = Math.max(...event.files.map((f) => f.name.length));
      return [
        `${from} shares ${event.files.length} file${event.files.length === 1 ? '' : 's'}:`,
        ...event.files.map((f) => `  ${oneLine(f.name).padEnd(width)}  ${formatBytes(f.size)} (${f.size} bytes)`),
      ].join('\n');
    }
    case 'transfer-requested':
      return requested(event.transfer);
    case 'transfer-started': {
      const t = event.transfer;
      const resumed = t.resumedFrom > 0 ? `, resuming at ${formatBytes(t.resumedFrom)}` : '';
      return `${t.id} ${t.direction === 'send' ? 'sending' : 'receiving'} ${oneLine(t.name)} (${t.size === undefined ? 'size unknown' : formatBytes(t.size)}${resumed})`;
    }
    case 'transfer-progress':
      return `${event.transfer.id} ${oneLine(event.transfer.name)}: ${formatBytes(event.transfer.bytes)}${event.transfer.size === undefined ? '' : ` of ${formatBytes(event.transfer.size)}`}`;
    case 'transfer-done':
      return oneLine(event.summary);
    case 'transfer-failed':
      return `${event.transfer.id} ${oneLine(event.transfer.name)} failed: ${oneLine(event.transfer.error ?? 'unknown error')}${event.transfer.code ? ` (${event.transfer.code})` : ''}`;
    case 'transfer-cancelled':
      return `${event.transfer.id} ${oneLine(event.transfer.name)} cancelled${event.by === 'peer' ? ' by the peer' : ''}`;
    case 'transfers':
      if (event.transfers.length === 0) return 'no transfers';
      return event.transfers.map(transferRow).join('\n');
    case 'cancelling':
      return `cancelling ${event.id}`;
  }
}

function requested(t: TransferInfo): string {
  const name = oneLine(t.name);
  if (t.initiator === 'local') return t.kind === 'get' ? `${t.id} get ${name} from ${t.conn}` : `${t.id} put ${name} to ${t.conn}`;
  return t.kind === 'get' ? `${t.id} ${t.conn} gets ${name} from the shared folder` : `${t.id} ${t.conn} puts ${name} into the downloads folder`;
}

function transferRow(t: TransferInfo): string {
  const what = `${t.id} ${t.kind} ${t.direction === 'send' ? 'to' : 'from'} ${t.conn} ${oneLine(t.name)}`;
  const amount = t.size === undefined ? formatBytes(t.bytes) : `${formatBytes(t.bytes)} of ${formatBytes(t.size)}`;
  const why = t.code ? ` (${t.code})` : '';
  return `${what}: ${t.state}${why}, ${amount}`;
}

function connection(c: ConnectionInfo): string {
  return `${c.id} ${c.direction} ${c.addr}${c.peer ? ` (${c.peer})` : ''}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
