/**
 * Everything a console reports is one `ConsoleEvent`: the printer writes each as one line, for
 * people or as JSON. This file also turns a hub's streams into those events.
 */
import { Observable, filter, map, merge } from 'rxjs';
import { formatAddress } from '../connection/close-reason.js';
import type { Messenger } from '../connection/messenger.js';
import type { Client } from '../hub/client.js';
import type { ConnectionEvent, Hub, Incoming } from '../hub/hub.js';
import type { Header } from '../protocol/message.js';
import type { StatsEvent } from './stats.js';
import { messageText } from '../text/chat-text.js';

/** One line of console output. `addr` is `host:port`. */
export type ConsoleEvent =
  | { readonly event: 'listening'; readonly host: string; readonly port: number }
  | { readonly event: 'open'; readonly id: string; readonly addr: string; readonly alive: number }
  | {
      readonly event: 'close';
      readonly id: string;
      readonly addr: string;
      readonly reason: string;
      readonly error?: string;
      readonly alive: number;
    }
  | {
      readonly event: 'message';
      readonly from: string;
      readonly addr: string;
      readonly header: Header;
      /** `info`, or the content as UTF-8 text when `info` is empty (see `text.ts`). */
      readonly text?: string;
      readonly contentBytes: number;
    }
  | { readonly event: 'dial-failed'; readonly host: string; readonly port: number; readonly error: string }
  | { readonly event: 'list'; readonly connections: readonly { index: number; id: string; addr: string }[] }
  | { readonly event: 'sent'; readonly to: string; readonly addr: string }
  | { readonly event: 'broadcast'; readonly to: readonly string[]; readonly failed: readonly string[] }
  | { readonly event: 'help'; readonly commands: readonly string[] }
  | { readonly event: 'error'; readonly message: string; readonly code?: string }
  | StatsEvent
  | { readonly event: 'stopped' };

/** Opens, closes and received messages of a hub, as console events; completes when the hub stops. */
export function hubEvents(hub: Hub): Observable<ConsoleEvent> {
  return merge(hub.connections$.pipe(map(connectionEvent)), hub.incoming$.pipe(map(messageEvent)));
}

/** A client's failed dials, as console events (successes show as `open`). */
export function dialFailures(client: Client): Observable<ConsoleEvent> {
  return client.dials$.pipe(
    filter((dial) => dial.type === 'failed'),
    map((dial): ConsoleEvent => ({ event: 'dial-failed', host: dial.host, port: dial.port, error: dial.error.message })),
  );
}

/** The `list` event for a hub's live connections. */
export function listEvent(messengers: readonly Messenger[]): ConsoleEvent {
  return {
    event: 'list',
    connections: messengers.map((m, index) => ({ index, id: m.id, addr: formatAddress(m.addr) })),
  };
}

/** An error event from anything thrown, keeping a library error's stable `code`. */
export function errorEvent(error: unknown): Extract<ConsoleEvent, { event: 'error' }> {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_') ? { event: 'error', message, code } : { event: 'error', message };
}

function connectionEvent(event: ConnectionEvent): ConsoleEvent {
  const { messenger, alive } = event;
  const base = { id: messenger.id, addr: formatAddress(messenger.addr), alive };
  if (event.type === 'open') return { event: 'open', ...base };
  const { reason, error } = event.reason;
  return error ? { event: 'close', ...base, reason, error: error.message } : { event: 'close', ...base, reason };
}

function messageEvent(incoming: Incoming): ConsoleEvent {
  const text = messageText(incoming);
  return {
    event: 'message',
    from: incoming.from.id,
    addr: formatAddress(incoming.from.addr),
    header: incoming.header,
    ...(text === undefined ? {} : { text }),
    contentBytes: incoming.content.length,
  };
}
