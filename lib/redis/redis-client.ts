/** What the bridge and the peer table share about their ioredis clients: retries, and a bounded goodbye. */
import { Redis } from 'ioredis';

/** How long a close waits for Redis to take its last commands. */
export const CLOSE_WAIT_MS = 1000;

/** ioredis's `retryStrategy`: 50 ms, doubling, at most `maxMs` between two reconnection attempts, forever. */
export function backoff(maxMs: number): (times: number) => number {
  return (times) => Math.min(25 * 2 ** Math.min(times, 10), maxMs);
}

/** Quits politely when connected (what was sent is answered first), and in any case stops reconnecting. */
export async function quit(client: Redis): Promise<void> {
  if (client.status === 'ready') await settledWithin(client.quit(), CLOSE_WAIT_MS);
  client.disconnect();
}

/** Waits for the promise to settle, `ms` at most, never rejecting: for cleanup against a Redis that may vanish. */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
