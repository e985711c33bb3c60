import { Observable, type OperatorFunction } from 'rxjs';
import { FrameDecoder, type DecoderOptions } from './decoder.js';
import type { Message } from './message.js';

/**
 * An operator from a stream of byte chunks, split anywhere, to the messages they carry. A malformed
 * frame is delivered as the stream's error (a `ProtocolError`), and so is input that completes
 * inside a frame (`ERR_TRUNCATED_FRAME`). Each subscription gets a decoder of its own.
 *
 * @example
 * chunks$.pipe(decodeFrames({ maxContentBytes: 1 << 20 })).subscribe((m) => console.log(m.header));
 */
export function decodeFrames(options: DecoderOptions = {}): OperatorFunction<Uint8Array, Message> {
  return (source) =>
    new Observable<Message>((subscriber) => {
      const decoder = new FrameDecoder(options);
      const deliver = (message: Message) => subscriber.next(message);
      return source.subscribe({
        next(chunk) {
          try {
            decoder.push(chunk, deliver);
          } catch (error) {
            subscriber.error(error);
          }
        },
        error: (error) => subscriber.error(error),
        complete() {
          try {
            decoder.end();
            subscriber.complete();
          } catch (error) {
            subscriber.error(error);
          }
        },
      });
    });
}
