/**
 * What the playground scripts share: printing (cell titles, an aligned transcript, headers on one
 * line) and bounded waits, so that no script can hang when something it waits for never comes.
 */
import { filter, firstValueFrom, map, throwError, timeout, type MonoTypeOperatorFunction } from 'rxjs';
import type { Header, HeaderInput, Hub, Message, Messenger } from '../lib/index.js';

/** How long any playground wait may take before it fails the script. */
export const WAIT_MS = 3000;

/** Fails the stream with a readable error when its first value takes longer than `ms`. */
export function within<T>(what: string, ms = WAIT_MS): MonoTypeOperatorFunction<T> {
  return timeout({ first: ms, with: () => throwError(() => new Error(`waited ${ms} ms for ${what}`)) });
}

/**
 * The next message of one connection. Messages that arrived while nobody listened wait in the
 * Messenger's inbox, so awaiting them one by one, in order, loses none.
 */
export function nextMessage(messenger: Messenger, ms = WAIT_MS): Promise<Message> {
  return firstValueFrom(messenger.messages$.pipe(within(`a message on ${messenger.id}`, ms)));
}

/** The next connection that opens on `hub` (call it before the connection is made). */
export function nextOpen(hub: Hub, ms = WAIT_MS): Promise<Messenger> {
  const known = new Set(hub.messengers);
  return firstValueFrom(
    hub.connections$.pipe(
      filter((event) => event.type === 'open' && !known.has(event.messenger)),
      map((event) => event.messenger),
      within('a new connection', ms),
    ),
  );
}

/** Prints the title of a notebook cell. */
export function cell(title: string): void {
  console.log(`\n## ${title}`);
}

/** Prints one transcript line, the speaker's name aligned: `[alice]   hello`. */
export function say(who: string, text: string): void {
  console.log(`${`[${who}]`.padEnd(10)}${text}`);
}

/** A header on one line: `{from: alice, info: hello}`. */
export function showHeader(header: Header | HeaderInput): string {
  return `{${Object.entries(header)
    .map(([key, value]) => `${key}: ${value}`)
    .join(', ')}}`;
}

/** A whole message on one line, with the content's size when there is any. */
export function showMessage({ header, content }: Message): string {
  return content.length === 0 ? showHeader(header) : `${showHeader(header)} + ${content.length} bytes`;
}
