/**
 * SHA-256 of the first bytes of an open file, read through one buffer: how both ends of a resumed
 * transfer check that the part already received matches the sender's file. The returned `Hash` is
 * still open, so the transfer goes on hashing the rest without reading the prefix twice.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

/**
 * Hashes bytes `[0, length)` of the file. Resolves with the running hash, or with `undefined` when
 * the file is shorter than `length`.
 * @param bufferBytes size of the one read buffer (memory used, whatever the length).
 */
export async function hashPrefix(handle: FileHandle, length: number, bufferBytes: number): Promise<Hash | undefined> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(bufferBytes, length)));
  let position = 0;
  while (position < length) {
    const want = Math.min(buffer.length, length - position);
    const { bytesRead } = await handle.read(buffer, 0, want, position);
    if (bytesRead === 0) return undefined;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash;
}

/** The hex digest of a running hash, leaving the hash open for more data. */
export function peekDigest(hash: Hash): string {
  return hash.copy().digest('hex');
}
