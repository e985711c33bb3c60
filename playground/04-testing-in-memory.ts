// Run: npx tsx playground/04-testing-in-memory.ts
//
// Testing your own chains without sockets, with the testing entry (`rx-tcp-hub/testing`):
// `MemoryHub` is the real Hub over in-memory connections, `messengerPair` two joined Messengers,
// and the sending operators run under RxJS's TestScheduler against fake targets.
import { deepStrictEqual } from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { VirtualTimeScheduler, filter, firstValueFrom, map, take, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  CloseReasonKind,
  closeOnFailure,
  encodeFrame,
  formatAddress,
  relayToOthers,
  sendEach,
  type Frame,
  type Received,
  type Target,
  type WriteCallback,
} from '../lib/index.js';
import { MemoryHub, messengerPair, randomChunks } from '../lib/testing/index.js';
import { cell, nextMessage, showHeader, within } from './helpers.js';

// %% A MemoryHub runs the same Hub code as Server and Client; `connectPeer()` opens a connection
// and returns its far end, a Messenger to drive the test from.
cell('1. MemoryHub: an echo chain, tested without a socket');
const hub = new MemoryHub();
hub.incoming$
  .pipe(filter(({ header }) => header['info'] !== undefined))
  .subscribe(({ from, header }) => void from.send({ echo: header['info']! }).catch(() => undefined));
const peer = hub.connectPeer();
console.log(`peer ${peer.id} is connected to hub connection ${hub.messengers[0]!.id} at ${formatAddress(hub.messengers[0]!.addr)}`);
await peer.send({ info: 'ping' });
console.log(`peer got ${showHeader((await nextMessage(peer)).header)}`);

// %% The relay chain of 02-chat-relay, checked with three in-memory peers (the hub's `cN` is the
// far end of `peerN`).
cell('2. MemoryHub: the relay reaches everyone but the sender');
hub.incoming$
  .pipe(
    filter(({ header }) => header['say'] !== undefined),
    relayToOthers(() => hub.messengers, ({ from, header }) => ({ header: { from: from.id, said: header['say']! } })),
    sendEach(),
    closeOnFailure(),
  )
  .subscribe();
const [p2, p3] = [hub.connectPeer(), hub.connectPeer()];
await p2.send({ say: 'hi' });
for (const other of [peer, p3]) console.log(`${other.id} got ${showHeader((await nextMessage(other)).header)}`);
// Its own line did not come back to p2: its first message is p3's line.
await p3.send({ say: 'hello' });
console.log(`${p2.id}'s first message is ${showHeader((await nextMessage(p2)).header)}`);

// %% A stalled reader, in memory: a peer that never reads (its inbox holds nothing) fills the
// hub's outbound queue for it; the send that would pass `maxQueueBytes` fails, and the hub closes
// that connection as a slow consumer. No timing is involved: the queue is counted in bytes.
cell('3. MemoryHub: a stalled reader is closed as a slow consumer');
const strict = new MemoryHub({ maxQueueBytes: 64 * 1024, bufferBytes: 8 * 1024 });
strict.connectPeer({ maxInboxBytes: 0 }); // never subscribed to: reading stops after one message
const stalled = strict.messengers[0]!;
const chunk = Buffer.alloc(8 * 1024);
let sent = 0;
for (; sent < 100 && !stalled.closed; sent++) void strict.send(stalled, { n: sent }, chunk);
console.log(`after ${sent} sends of 8 KiB: closed as ${stalled.closeReason?.reason} (${(stalled.closeReason?.error as { code?: string } | undefined)?.code})`);
console.log(`the queue held at most ${stalled.maxQueueBytes} bytes: ${stalled.closeReason?.error?.message}`);

// %% messengerPair: two Messengers joined in memory, for code that talks over one connection.
cell('4. messengerPair: a request and its reply over one connection');
const [asker, answerer] = messengerPair();
answerer.messages$.subscribe(({ header }) => void answerer.send({ answer: Number(header['a']) + Number(header['b']) }).catch(() => undefined));
const replies = firstValueFrom(asker.messages$.pipe(take(2), map(({ header }) => header['answer']), toArray(), within('two answers')));
await asker.send({ a: 2, b: 3 });
await asker.send({ a: 40, b: 2 });
console.log(`answers: ${(await replies).join(', ')}`);

// %% The operators are pure over their targets: with fake targets that settle at once, a relay
// chain runs in virtual time under TestScheduler, and its outcomes compare as marbles.
cell('5. TestScheduler: the relay chain as a marble test');
const fake = (id: string, written: string[]): Target => ({
  id,
  write: (frame: Frame, done?: WriteCallback) => {
    written.push(`${id}:${Buffer.concat(frame).length}`);
    done?.();
  },
  close: () => undefined,
});
const written: string[] = [];
const [t1, t2, t3] = ['t1', 't2', 't3'].map((id) => fake(id, written)) as [Target, Target, Target];
const said = (from: Target, text: string): Received<Target> => ({ from, header: { said: text }, content: Buffer.alloc(0) });
new TestScheduler(deepStrictEqual).run(({ cold, expectObservable }) => {
  const incoming = cold('-a 9ms (b|)', { a: said(t1, 'hi'), b: said(t3, 'yo') });
  const delivered = incoming.pipe(
    relayToOthers(() => [t1, t2, t3]),
    sendEach(),
    map((outcome) => `${outcome.target.id} ${outcome.ok ? 'ok' : 'failed'}`),
  );
  expectObservable(delivered).toBe('-(xy) 6ms (zw|)', { x: 't2 ok', y: 't3 ok', z: 't1 ok', w: 't2 ok' });
});
console.log(`marble test passed; frames written: ${written.join(', ')} (${Buffer.concat(encodeFrame({ said: 'hi' })).length} bytes each)`);

// %% Faults on demand: a peer whose writes reach the hub split into 1 to 3 byte pieces, each
// after 2 ms of virtual time. The hub still gets every message whole and in order.
cell('6. MemoryHub with faults: messages split and delayed arrive whole');
const clock = new VirtualTimeScheduler();
const faulty = new MemoryHub({ scheduler: clock });
const shaky = faulty.connectPeer({ faults: { chunks: randomChunks(7, { max: 3 }), delayMs: 2 } });
const arrived: string[] = [];
faulty.incoming$.subscribe(({ header }) => arrived.push(header['n']!));
const sends = [1, 2, 3].map((n) => shaky.send({ n, text: 'split anywhere' }));
for (let i = 0; i < 100 && arrived.length < 3; i++) {
  await nextTurn();
  clock.flush();
}
await Promise.all(sends);
console.log(`arrived whole and in order: ${arrived.join(', ')} (${shaky.stats().bytesOut} bytes sent in pieces of 1 to 3)`);

cell('7. Stop');
await faulty.stop({ drainMs: 0 });
await hub.stop();
await strict.stop();
asker.close(CloseReasonKind.Local);
answerer.close(CloseReasonKind.Local);
console.log('stopped');
