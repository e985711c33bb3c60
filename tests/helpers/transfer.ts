/**
 * Helpers of the transfer tests: temporary folders removed in teardown, two peers (each a
 * TransferEngine with its own shared and downloads folders) joined in memory, files of a fast
 * deterministic pattern, and streaming checksums.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { filter, firstValueFrom, timeout, type Observable } from 'rxjs';
import type { Messenger } from '../../lib/connection/messenger.js';
import { TransferEngine } from '../../lib/filer/transfer/engine.js';
import type { TransferEvent } from '../../lib/filer/transfer/events.js';
import type { TransferOptions } from '../../lib/filer/transfer/options.js';
import { messengerPair } from '../../lib/testing/index.js';

/** The longest any single wait in these tests may take before it fails the test. */
export const WAIT_MS = 10_000;

/** A fresh temporary folder, removed with everything in it in the test's teardown. */
export async function tempDir(t: ExecutionContext, prefix = 'rx-tcp-hub-transfer-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** One side of a test: its engine and its folders. */
export interface Peer {
  readonly engine: TransferEngine;
  readonly share: string;
  readonly downloads: string;
}

/** Makes a peer with its own shared and downloads folders under `root`; its engine stops in teardown. */
export async function makePeer(t: ExecutionContext, root: string, name: string, options: Partial<TransferOptions> = {}): Promise<Peer> {
  const share = await mkdtemp(join(root, `${name}-share-`));
  const downloads = await mkdtemp(join(root, `${name}-downloads-`));
  const engine = new TransferEngine({ shareDir: share, downloadsDir: downloads, ...options });
  t.teardown(() => engine.stop());
  return { engine, share, downloads };
}

/** Two peers, alice and bob, on one in-memory connection, both engines attached. */
export interface Pair {
  readonly alice: Peer;
  readonly bob: Peer;
  /** Alice's end of the connection, and Bob's. */
  readonly a: Messenger;
  readonly b: Messenger;
  readonly root: string;
}

export async function makePair(t: ExecutionContext, options: Partial<TransferOptions> = {}, bobOptions: Partial<TransferOptions> = options): Promise<Pair> {
  const root = await tempDir(t);
  const alice = await makePeer(t, root, 'alice', options);
  const bob = await makePeer(t, root, 'bob', bobOptions);
  const [a, b] = connect(t);
  alice.engine.attach(a);
  bob.engine.attach(b);
  return { alice, bob, a, b, root };
}

/** A new in-memory connection, closed in teardown. */
export function connect(t: ExecutionContext): [Messenger, Messenger] {
  const [a, b] = messengerPair();
  t.teardown(async () => {
    a.close();
    b.close();
    await Promise.all([a.whenSocketClosed(), b.whenSocketClosed()]);
  });
  return [a, b];
}

const BLOCK = 1 << 20;

/**
 * Writes `size` bytes of a deterministic pattern: a 1 MiB block of xorshift output, with the block
 * number stamped in its first bytes so no two blocks are alike. Fast (one block is generated) and
 * bounded in memory. `seed` makes different files.
 */
export async function writePattern(path: string, size: number, seed = 1): Promise<void> {
  const block = Buffer.allocUnsafe(BLOCK);
  let x = (0x9e3779b9 ^ seed) >>> 0 || 1;
  for (let i = 0; i < BLOCK; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    block.writeUInt32LE(x, i);
  }
  const file = await open(path, 'w');
  try {
    for (let position = 0, n = 0; position < size; position += BLOCK, n++) {
      block.writeUInt32LE(n, 0);
      block.writeUInt32LE(seed, 4);
      const length = Math.min(BLOCK, size - position);
      let done = 0;
      while (done < length) done += (await file.write(block, done, length - done, position + done)).bytesWritten;
    }
  } finally {
    await file.close();
  }
}

/** SHA-256 (hex) of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: BLOCK })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The names in a folder, sorted (hidden part files included). */
export async function namesIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

/** The first event of the stream that matches, failing after `WAIT_MS`. */
export function nextEvent<T extends TransferEvent['type']>(
  events$: Observable<TransferEvent>,
  type: T,
  where: (event: Extract<TransferEvent, { type: T }>) => boolean = () => true,
  ms = WAIT_MS,
): Promise<Extract<TransferEvent, { type: T }>> {
  return firstValueFrom(
    events$.pipe(
      filter((event): event is Extract<TransferEvent, { type: T }> => event.type === type),
      filter(where),
      timeout(ms),
    ),
  );
}

/** Resolves with the settled value or rejects after `ms` naming what it waited for. */
export async function bounded<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
