/**
 * How typed text (the consoles' and the filer peer's chat) travels on the wire, and is read back.
 *
 * Typed text travels as the seed's `{info: text}`. A header value cannot hold `:` or `;` (the
 * seed's decoder splits the header on them, so the encoder refuses them), nor pass the 2-byte
 * header length; such text travels instead as `{info: ''}` with the text as UTF-8 content. On
 * receipt the console shows `info`, or, when `info` is empty or absent, the content decoded as
 * UTF-8 when it is valid UTF-8. The seed's consoles read `info` only: they show such a message as
 * empty text, but they still read it without error.
 */
import { MAX_HEADER_BYTES } from '../protocol/constants.js';
import type { HeaderInput, Message } from '../protocol/message.js';

/** Room left in the header for `info:` after `CL:<n>;`. */
const MAX_INFO_BYTES = MAX_HEADER_BYTES - 64;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The message that carries typed text.
 * @example
 * textMessage('hello')    // { header: { info: 'hello' } }
 * textMessage('at 12:30') // { header: { info: '' }, content: <Buffer "at 12:30"> }
 */
export function textMessage(text: string): { header: HeaderInput; content?: Buffer } {
  if (!/[:;]/.test(text) && Buffer.byteLength(text, 'utf8') <= MAX_INFO_BYTES) return { header: { info: text } };
  return { header: { info: '' }, content: Buffer.from(text, 'utf8') };
}

/** The text a received message shows: its `info`, else its content as UTF-8; undefined when neither. */
export function messageText({ header, content }: Message): string | undefined {
  const info = header['info'];
  if (info) return info;
  if (content.length > 0) {
    try {
      return utf8.decode(content);
    } catch {
      // not text: the console shows the content's size only
    }
  }
  return info;
}
