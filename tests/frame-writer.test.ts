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

test("a tick's frames leave at its end: small ones gathered into one write, a large content as the very buffer given", async (t) => {
  const { chunks, writer } = recorder();
  const content = Buffer.alloc(8192, 7); // larger than what is gathered: never copied
  const frames = Array.from({ length: 100 }, (_, i) => encodeFrame({ i }, i === 50 ? content : undefined));
  writer.cork();
  for (const frame of frames) writer.frame(frame, undefined, undefined);
  t.is(chunks.length, 0, 'encoded frames (a fan-out) wait for the tick to end');
  await nextTurn();
  t.deepEqual(Buffer.concat(chunks), Buffer.concat(frames.flat()));
  t.true(chunks.includes(content), 'the large content is written as it was given');
  t.is(chunks.length, 3, 'the heads before it, the content, the heads after it');
});

test('a send that is first in its tick leaves at once, head and content in one writev; the sends after it wait for the tick to end', async (t) => {
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
  const content = Buffer.alloc(5000, 1);
  writer.cork();
  writer.text('CL:5000;i:0', 11, content, sink);
  writer.text('CL:0;i:1', 8, Buffer.alloc(0), sink);
  writer.text('CL:0;i:2', 8, Buffer.alloc(0), sink);
  t.is(writes.length, 1);
  t.deepEqual(Buffer.concat(writes[0]!), Buffer.concat(encodeFrame({ i: 0 }, content)));
  t.is(writes[0]![1], content, 'the content is written as it was given');
  await nextTurn();
  t.is(writes.length, 2, 'the next two left together at the end of the tick');
  t.deepEqual(Buffer.concat(writes[1]!), Buffer.concat([...encodeFrame({ i: 1 }), ...encodeFrame({ i: 2 })]));
});

test('while the socket holds bytes the kernel has not taken, later frames wait as they are and leave in few gathered writes once it has', async (t) => {
  const chunks: Buffer[] = [];
  const held: Array<() => void> = [];
  let stalled = true;
  const take = (chunk: Buffer, callback: () => void) => {
    chunks.push(chunk);
    if (stalled) held.push(callback);
    else callback();
  };
  const stream = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _encoding, callback) {
      take(chunk, () => callback());
    },
  });
  const moved: number[] = [];
  const writer = new FrameWriter(stream as never, { writeFailure: () => undefined, queueMoved: () => moved.push(writer.gatheredBytes) });
  const frames = Array.from({ length: 2710 }, (_, i) => encodeFrame({ seq: i, pad: 'x'.repeat(100) }));
  writer.cork();
  for (const frame of frames.slice(0, 10)) writer.frame(frame, undefined, undefined);
  await nextTurn();
  t.is(chunks.length, 1, 'the first tick leaves in one write, which the stalled reader does not take');
  // Nine more ticks while stalled: nothing more is handed to the socket.
  for (let tick = 1; tick < 10; tick++) {
    writer.cork();
    for (const frame of frames.slice(tick * 300 - 290, tick * 300 + 10)) writer.frame(frame, undefined, undefined);
    await nextTurn();
  }
  t.is(chunks.length, 1, 'frames of later ticks wait in the writer, not as one socket write per tick');
  const waitingBytes = frames.slice(10).reduce((sum, f) => sum + f[0]!.length, 0);
  t.is(writer.gatheredBytes, waitingBytes);
  t.is(moved.at(-1), waitingBytes, 'the connection is told at each tick end what waits');
  stalled = false;
  for (const callback of held.splice(0)) callback();
  for (let i = 0; i < 20 && writer.gatheredBytes > 0; i++) await nextTurn();
  t.is(writer.gatheredBytes, 0);
  t.deepEqual(Buffer.concat(chunks), Buffer.concat(frames.flat()), 'every byte, in order');
  const sizes = chunks.slice(1).filter((c) => c.length > 0).map((c) => c.length);
  // Gathered a few kilobytes a write (a TCP socket gathers 16 KiB), not one write per frame or per tick.
  t.true(sizes.length <= Math.ceil(waitingBytes / 3000), `${sizes.length} writes for ${waitingBytes} bytes`);
});

test('each write settles the frames it carried, in order, and the sends of a tick share one promise, told once for all', async (t) => {
  const { writer } = recorder();
  const settled: string[] = [];
  const sinks = [0, 1, 2].map((i): WriteSink => ({ settle: (frames) => settled.push(`${i}:${frames}`) }));
  writer.cork();
  const batch = writer.sendBatch();
  batch.add();
  writer.text('CL:0;x:1', 8, Buffer.alloc(0), batch);
  writer.keep(batch);
  const again = writer.sendBatch();
  t.is(again, batch, 'a second send of the tick joins the same batch');
  for (let i = 0; i < 3; i++) writer.frame(encodeFrame({ i }, i === 1 ? Buffer.from('x') : undefined), sinks[i], 1);
  await batch.promise;
  await nextTurn();
  t.deepEqual(settled, ['0:1', '1:1', '2:1']);
  t.not(writer.sendBatch(), batch, 'the next tick has a batch of its own');
});
