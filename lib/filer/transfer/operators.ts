/** Operators that split one connection's messages between chat and file transfer. */
import { filter, type MonoTypeOperatorFunction } from 'rxjs';
import type { Message } from '../../protocol/message.js';
import { isTransferMessage } from './vocabulary.js';

/**
 * Drops transfer messages (those with the `ft` key): what a chat layer puts before its handler.
 * @example
 * hub.incoming$.pipe(skipTransferMessages()).subscribe(({ from, header }) => console.log(from.id, header['info']));
 */
export function skipTransferMessages<T extends Pick<Message, 'header'>>(): MonoTypeOperatorFunction<T> {
  return filter((message: T) => !isTransferMessage(message));
}

/**
 * Keeps only transfer messages (those with the `ft` key).
 * @example
 * messenger.messages$.pipe(onlyTransferMessages()).subscribe((m) => console.log(m.header['ft']));
 */
export function onlyTransferMessages<T extends Pick<Message, 'header'>>(): MonoTypeOperatorFunction<T> {
  return filter((message: T) => isTransferMessage(message));
}
