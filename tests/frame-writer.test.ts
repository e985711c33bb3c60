/**
 * The write path under a Messenger, over a recording stream: the heads of one tick leave as one
 * buffer, content as it was given, and each write's callback settles exactly the frames it carried.
 */
import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import test from 'ava';
import { FrameWriter, type WriteSink } from '../lib/connection/frame-writer.js';
import { encodeFrame } from '../lib/protocol/index.js';

/** A stream that keeps every buffer written to it, in the order the socket would send them. */
function recorder() {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    writev(entries, callback) {
      for (const { chunk } of entries) chunks.push(chunk as Buffer);
      callback();
    },
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  return { chunks, writer: new FrameWriter(stream as never, { writeFailure: () => undefined, queueMoved: () => {} }) };
}

test('the heads of a tick leave gathered, in a few growing buffers, and content as the very buffer given', async (t) => {
  const { chunks, writer } = recorder();
  const content = Buffer.from('content, never copied');
  const frames = Array.from({ length: 100 }, (_, i) => encodeFrame({ i }, i === 50 ? content : undefined));
  writer.cork();
  for (const frame of frames) writer.frame(frame, undefined, undefined);
  t.is(chunks.length, 0, 'encoded frames (a fan-out) wait for the tick to end');
  await nextTurn();
  t.deepEqual(Buffer.concat(chunks), Buffer.concat(frames.flat()));
  t.true(chunks.includes(content), 'the content is written as it was given');
  // Each gathering buffer is twice the last: 100 heads leave in a handful of writes.
  t.true(chunks.length <= 12, `${chunks.length} writes for 100 frames`);
  // The first buffer of a tick is exactly the first head: a lone frame holds no spare bytes.
  t.is(chunks[0]!.length, frames[0]![0]!.length);
});

test('a send that is first in its tick leaves at once, head and content in one write; the sends after it wait for the tick to end', async (t) => {
  const writes: Buffer[][] = [];
  const stream = new Writable({
    writev(entries, callback) {
      writes.push(entries.map(({ chunk }) => chunk as Buffer));
      callback();
    },
    write(chunk: Buffer, _encoding, callback) {
      writes.push([chunk]);
      callback();
    },
  });
  const writer = new FrameWriter(stream as never, { writeFailure: () => undefined, queueMoved: () => {} });
  const sink: WriteSink = { settle: () => {} };
  const content = Buffer.from('abc');
  writer.cork();
  writer.text('CL:3;i:0', 8, content, sink);
  writer.text('CL:0;i:1', 8, Buffer.alloc(0), sink);
  writer.text('CL:0;i:2', 8, Buffer.alloc(0), sink);
  t.is(writes.length, 1);
  t.deepEqual(Buffer.concat(writes[0]!), Buffer.concat(encodeFrame({ i: 0 }, content)));
  t.is(writes[0]![1], content, 'the content is written as it was given');
  await nextTurn();
  t.is(writes.length, 2, 'the next two left together at the end of the tick');
  t.deepEqual(Buffer.concat(writes[1]!), Buffer.concat([...encodeFrame({ i: 1 }), ...encodeFrame({ i: 2 })]));
});

test('each write settles the frames it carried, in order, and the sends of a tick share one promise', async (t) => {
  const { writer } = recorder();
  const settled: number[] = [];
  const sink: WriteSink = { settle: (index) => settled.push(index) };
  writer.cork();
  const batch = writer.sendBatch();
  batch.add();
  writer.text('CL:0;x:1', 8, Buffer.alloc(0), batch);
  writer.keep(batch);
  const again = writer.sendBatch();
  t.is(again, batch, 'a second send of the tick joins the same batch');
  for (let i = 0; i < 3; i++) writer.frame(encodeFrame({ i }, i === 1 ? Buffer.from('x') : undefined), sink, i);
  await batch.promise;
  await nextTurn();
  t.deepEqual(settled, [0, 1, 2]);
  t.not(writer.sendBatch(), batch, 'the next tick has a batch of its own');
});
