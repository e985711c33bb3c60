/** The message model of the seed: a header dictionary plus optional binary content. */

/** A header value as given to send: a string, or a safe integer (written in decimal). */
export type HeaderValue = string | number;

/** A header as given to send. Insertion order is the order on the wire. */
export type HeaderInput = Readonly<Record<string, HeaderValue>>;

/**
 * A header as received: every value is a string (the wire carries text), and `CL` is not in it.
 * The object inherits nothing (its prototype is an empty object with no prototype), so any key a
 * peer sends (even `__proto__` or `constructor`) is just a key.
 */
export type Header = Readonly<Record<string, string>>;

/** One received message. `content` is empty (length 0) when the frame carried none. */
export interface Message {
  readonly header: Header;
  readonly content: Buffer;
}

/** The encoded form of one message: the buffers to write, in order. */
export type Frame = readonly Buffer[];

/** The seed's connection check, `{TP: "Check"}`: consumed by the receiving side, never delivered. */
export const CHECK_HEADER: HeaderInput = Object.freeze({ TP: 'Check' });

/** True for the seed's connection check message, which the receiving side drops. */
export function isCheck(message: Message): boolean {
  return message.header['TP'] === 'Check' && message.content.length === 0;
}

/** The number of bytes a frame occupies on the wire. */
export function frameLength(frame: Frame): number {
  let n = 0;
  for (let i = 0; i < frame.length; i++) n += frame[i]!.length;
  return n;
}
