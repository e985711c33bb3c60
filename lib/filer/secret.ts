/**
 * A shared secret for the filer: the tracker and the peers accept a connection only when its first
 * message carries the secret. Built on the hub's `authenticate` gate and `hello`: the dialling side
 * says the secret first, the accepting side checks it. The secret travels as it is, so use it with
 * TLS on a network you do not trust.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidOptionError } from '../errors.js';
import type { Messenger } from '../connection/messenger.js';
import type { Authenticate } from '../hub/authenticate.js';
import type { Hello } from '../hub/hub-options.js';
import type { Message } from '../protocol/message.js';

/** The header of the message that carries the secret; the secret is its content. */
export const SECRET_HEADER = { TP: 'Secret' } as const;

/** The two halves of a shared secret: what the dialling side sends, what the accepting side checks. */
export interface SharedSecret {
  /** For the hubs that dial: the message sent first on every connection. */
  readonly hello: Hello;
  /** For the hubs that accept: lets in a connection whose first message carries the secret. */
  readonly authenticate: Authenticate<Messenger>;
}

/**
 * The hello and the check of a secret. Compared in constant time (over SHA-256 digests, so the
 * length does not show either).
 * @throws InvalidOptionError for an empty secret
 * @example
 * const { hello, authenticate } = sharedSecret('correct horse');
 * const server = await Server.listen({ port: 5000, authenticate });
 * const client = new Client({ hello });
 */
export function sharedSecret(secret: string | Uint8Array): SharedSecret {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  if ((typeof secret !== 'string' && !(secret instanceof Uint8Array)) || bytes.length === 0) {
    throw new InvalidOptionError('secret', secret, 'a non-empty string or bytes');
  }
  const expected = digest(bytes);
  return {
    hello: { header: SECRET_HEADER, content: bytes },
    authenticate: ({ header, content }: Message) => header['TP'] === SECRET_HEADER.TP && timingSafeEqual(digest(content), expected),
  };
}

function digest(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}
