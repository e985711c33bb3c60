/**
 * What every implementation sends, so that all of them move the same bytes: the headers of each
 * scenario and a content buffer whose first and last bytes receivers check.
 */

export type BenchHeader = { type: string; seq: number | string; from: string };

/** Throughput messages, with or without content: the issue's `{type: chat, seq: <n>, from: peer-1}`. */
export const chat = (seq: number): BenchHeader => ({ type: 'chat', seq, from: 'peer-1' });
/** Ping-pong: a request, and its reply with the same seq. */
export const ping = (seq: number): BenchHeader => ({ type: 'ping', seq, from: 'peer-1' });
export const pong = (seq: number | string): BenchHeader => ({ type: 'pong', seq, from: 'server' });
/** Broadcast messages. */
export const news = (seq: number): BenchHeader => ({ type: 'news', seq, from: 'server' });

/** About the size of a frame without content (prefix + `CL:0;type:chat;seq:123456;from:peer-1`). */
export const HEADER_FRAME_BYTES = 40;

export const FIRST_BYTE = 0x5a;
export const LAST_BYTE = 0xa5;

/** Content of `size` bytes. Neither `s:` nor `j:` starts it, which axon would unpack as text. */
export function makeContent(size: number): Buffer {
  const content = Buffer.alloc(size);
  for (let i = 0; i < size; i++) content[i] = (i * 31 + 7) & 0xff;
  if (size > 0) {
    content[0] = FIRST_BYTE;
    content[size - 1] = LAST_BYTE;
  }
  return content;
}

/** A monotonic clock shared by every process of the machine (CLOCK_MONOTONIC), in nanoseconds. */
export function now(): number {
  return Number(process.hrtime.bigint());
}
