import test from 'ava';
import { catchError, map, throwError } from 'rxjs';
import { CloseReasonKind } from '../lib/connection/close-reason.js';
import { ErrorCode, FrameEncodeError, QueueFullError, SendFailedError } from '../lib/errors.js';
import {
  closeOnFailure,
  failures,
  relayToOthers,
  sendEach,
  writeFrame,
  type Outgoing,
  type Received,
  type SendOutcome,
} from '../lib/hub/operators.js';
import { encodeFrame } from '../lib/protocol/encode.js';
import type { Header } from '../lib/protocol/message.js';
import { fakeTargets, plainOutcome, testScheduler, type FakeTarget } from './helpers/marbles.js';

const frame = encodeFrame({ info: 'hi' });

// writeFrame

test('writeFrame emits one outcome as soon as the target accepts the frame, however long the frame takes to reach the kernel, then completes', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ expectObservable }) => {
    const { target } = fakeTargets(scheduler);
    const a = target('a', { settleAfter: 3 });
    const written$ = writeFrame(a, frame).pipe(map(plainOutcome));
    t.is(a.frames.length, 0, 'nothing is written before subscription');
    expectObservable(written$).toBe('(o|)', { o: { id: 'a', ok: true } });
  });
});

test('writeFrame reports a frame accepted whose write fails later as accepted: the connection reports the failure when it closes', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ expectObservable }) => {
    const { target } = fakeTargets(scheduler);
    expectObservable(writeFrame(target('a', { failAfter: 2 }), frame).pipe(map(plainOutcome))).toBe('(o|)', {
      o: { id: 'a', ok: true },
    });
  });
});

test('writeFrame turns a synchronous refusal into a failed outcome at once', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ expectObservable }) => {
    const { target } = fakeTargets(scheduler);
    const values = {
      q: { id: 'q', ok: false, code: ErrorCode.QueueFull },
      c: { id: 'c', ok: false, code: ErrorCode.ConnectionClosed },
      x: { id: 'x', ok: false, code: ErrorCode.SendFailed },
    };
    expectObservable(writeFrame(target('q', { refuse: 'queue-full' }), frame).pipe(map(plainOutcome))).toBe('(q|)', values);
    expectObservable(writeFrame(target('c', { refuse: 'closed' }), frame).pipe(map(plainOutcome))).toBe('(c|)', values);
    expectObservable(writeFrame(target('x', { throws: new Error('boom') }), frame).pipe(map(plainOutcome))).toBe('(x|)', values);
  });
});

test('writeFrame wraps a foreign error thrown by write in a SendFailedError naming the target', (t) => {
  const scheduler = testScheduler(t);
  const outcomes: SendOutcome[] = [];
  scheduler.run(() => {
    const { target } = fakeTargets(scheduler);
    const cause = new Error('boom');
    writeFrame(target('x', { throws: cause }), frame).subscribe((outcome) => outcomes.push(outcome));
  });
  const [outcome] = outcomes;
  t.false(outcome?.ok);
  const error = outcome && !outcome.ok ? outcome.error : undefined;
  t.true(error instanceof SendFailedError);
  t.is(error?.message, 'connection x: send failed: boom');
  t.is((error?.cause as Error | undefined)?.message, 'boom');
});

// sendEach

test('sendEach emits one outcome per target, in target order and at once, whatever the pace of each', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const { target } = fakeTargets(scheduler);
    const targets = [target('a', { settleAfter: 3 }), target('b', { settleAfter: 1 }), target('c', { settleAfter: 2 })];
    const outgoing$ = cold<Outgoing>('(a|)', { a: { targets, header: { info: 'hi' } } });
    const expected = '                (abc|)';
    expectObservable(outgoing$.pipe(sendEach(), map(plainOutcome))).toBe(expected, {
      a: { id: 'a', ok: true },
      b: { id: 'b', ok: true },
      c: { id: 'c', ok: true },
    });
  });
});

test('sendEach sends each message without waiting for the previous one to settle', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const { target } = fakeTargets(scheduler);
    const targets = [target('s', { settleAfter: 4 })];
    const outgoing$ = cold<Outgoing>('ab|', { a: { targets, header: { n: 1 } }, b: { targets, header: { n: 2 } } });
    const expected = '                ss|';
    expectObservable(outgoing$.pipe(sendEach(), map(plainOutcome))).toBe(expected, { s: { id: 's', ok: true } });
  });
});

test('sendEach encodes each message once and hands the same frame to every target', (t) => {
  const scheduler = testScheduler(t);
  const { target } = fakeTargets(scheduler);
  const targets = [target('a', { settleAfter: 1 }), target('b', { settleAfter: 2 }), target('c', { refuse: 'queue-full' })];
  scheduler.run(({ cold, expectObservable }) => {
    const outgoing$ = cold<Outgoing>('(a|)', { a: { targets, header: { info: 'hi' }, content: Buffer.from('body') } });
    const expected = '                (abc|)';
    expectObservable(outgoing$.pipe(sendEach(), map(plainOutcome))).toBe(expected, {
      a: { id: 'a', ok: true },
      b: { id: 'b', ok: true },
      c: { id: 'c', ok: false, code: ErrorCode.QueueFull },
    });
  });
  const [a, b, c] = targets as [FakeTarget, FakeTarget, FakeTarget];
  t.is(a.frames.length, 1);
  t.is(b.frames[0], a.frames[0]);
  t.is(c.frames[0], a.frames[0]);
  t.deepEqual(a.frames[0], encodeFrame({ info: 'hi' }, Buffer.from('body')));
});

test('sendEach writes the frame an outgoing message carries instead of encoding it again', (t) => {
  const scheduler = testScheduler(t);
  const { target } = fakeTargets(scheduler);
  const a = target('a', { settleAfter: 1 });
  // The header alone would not encode: the given frame is what is written.
  const outgoing: Outgoing = { targets: [a], header: { 'bad:key': 'x' }, frame };
  scheduler.run(({ cold, expectObservable }) => {
    const outgoing$ = cold<Outgoing>('(a|)', { a: outgoing });
    const expected = '                (a|)';
    expectObservable(outgoing$.pipe(sendEach(), map(plainOutcome))).toBe(expected, {
      a: { id: 'a', ok: true },
    });
  });
  t.is(a.frames[0], frame);
});

test('sendEach emits nothing for a message with no targets', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const outgoing$ = cold<Outgoing>('a-|', { a: { targets: [], header: { info: 'hi' } } });
    const expected = '                --|';
    expectObservable(outgoing$.pipe(sendEach())).toBe(expected);
  });
});

test('sendEach gives every target a FrameEncodeError outcome for a message it cannot encode, and goes on', (t) => {
  const scheduler = testScheduler(t);
  const { target, closes$ } = fakeTargets(scheduler);
  const x = target('x', { settleAfter: 1 });
  const y = target('y', { settleAfter: 2 });
  scheduler.run(({ cold, expectObservable }) => {
    const outgoing$ = cold<Outgoing>('a-----b------|', {
      a: { targets: [x, y], header: { info: 'a:b' } },
      b: { targets: [x, y], header: { info: 'ab' } },
    });
    const expected = '                (XY)--(xy)---|';
    const closes = '                  --------------';
    expectObservable(closes$).toBe(closes);
    expectObservable(outgoing$.pipe(sendEach(), closeOnFailure(), map(plainOutcome))).toBe(expected, {
      X: { id: 'x', ok: false, code: ErrorCode.HeaderValueInvalid },
      Y: { id: 'y', ok: false, code: ErrorCode.HeaderValueInvalid },
      x: { id: 'x', ok: true },
      y: { id: 'y', ok: true },
    });
  });
  t.is(x.frames.length, 1, 'only the encodable message reached x');
  t.is(y.frames.length, 1, 'only the encodable message reached y');
});

test('sendEach passes an error that is not an encoding failure on as the stream error', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const { target } = fakeTargets(scheduler);
    // A header that throws when read is a bug in the caller, not a message the wire refuses.
    const header = Object.defineProperty({}, 'info', {
      enumerable: true,
      get: () => {
        throw new TypeError('getter failed');
      },
    });
    const outgoing$ = cold<Outgoing>('a|', { a: { targets: [target('a', { settleAfter: 1 })], header } });
    const expected = '                #';
    const named = catchError((error: Error) => throwError(() => ({ name: error.name, message: error.message })));
    expectObservable(outgoing$.pipe(sendEach(), named)).toBe(expected, undefined, { name: 'TypeError', message: 'getter failed' });
  });
});

// closeOnFailure

test('closeOnFailure closes a target as slow-consumer when its queue was full, and send-failed otherwise', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const { target, closes$ } = fakeTargets(scheduler);
    const targets = [
      target('q', { refuse: 'queue-full' }),
      target('c', { refuse: 'closed' }),
      target('o', { settleAfter: 4 }),
      target('f', { failAfter: 5 }),
    ];
    const outgoing$ = cold<Outgoing>('(a|)', { a: { targets, header: { info: 'hi' } } });
    const expected = '                (qcof|)';
    const closes = '                  (QC)';
    expectObservable(closes$).toBe(closes, {
      Q: { id: 'q', reason: CloseReasonKind.SlowConsumer, code: ErrorCode.QueueFull },
      C: { id: 'c', reason: CloseReasonKind.SendFailed, code: ErrorCode.ConnectionClosed },
    });
    expectObservable(outgoing$.pipe(sendEach(), closeOnFailure(), map(plainOutcome))).toBe(expected, {
      q: { id: 'q', ok: false, code: ErrorCode.QueueFull },
      c: { id: 'c', ok: false, code: ErrorCode.ConnectionClosed },
      o: { id: 'o', ok: true },
      f: { id: 'f', ok: true },
    });
  });
});

test('closeOnFailure passes every outcome on unchanged and leaves encoding failures alone', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const { target, closes$ } = fakeTargets(scheduler);
    const a = target('a', { settleAfter: 1 });
    const b = target('b', { settleAfter: 1 });
    const e = target('e', { settleAfter: 1 });
    const outcomes = {
      a: { target: a, ok: true } as const,
      b: { target: b, ok: false, error: new QueueFullError('b', 90, 20, 100) } as const,
      e: { target: e, ok: false, error: new FrameEncodeError(ErrorCode.HeaderKeyInvalid, 'header key is empty') } as const,
    };
    const source = cold<SendOutcome>('  a-b-e-|', outcomes);
    const expected = '                  a-b-e-|';
    const closes = '                    --B----';
    expectObservable(closes$).toBe(closes, { B: { id: 'b', reason: CloseReasonKind.SlowConsumer, code: ErrorCode.QueueFull } });
    expectObservable(source.pipe(closeOnFailure())).toBe(expected, outcomes);
  });
});

// failures

test('failures keeps only the failed outcomes', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const { target } = fakeTargets(scheduler);
    const targets = [target('o', { settleAfter: 1 }), target('q', { refuse: 'queue-full' }), target('f', { failAfter: 3 })];
    const outgoing$ = cold<Outgoing>('(a|)', { a: { targets, header: { info: 'hi' } } });
    const expected = '                (q|)';
    expectObservable(outgoing$.pipe(sendEach(), failures(), map(plainOutcome))).toBe(expected, {
      q: { id: 'q', ok: false, code: ErrorCode.QueueFull },
    });
  });
});

// relayToOthers

const received = (from: FakeTarget, info: string): Received<FakeTarget> => ({
  from,
  header: { info } as Header,
  content: Buffer.alloc(0),
});

/** An outgoing message as plain values: its target ids and its info. */
const plainOutgoing = (outgoing: Outgoing) => ({
  to: outgoing.targets.map((target) => target.id).join(','),
  info: outgoing.header['info'],
});

test('relayToOthers addresses each message to every target but its sender', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ hot, expectObservable }) => {
    const { target } = fakeTargets(scheduler);
    const [a, b, c] = [target('a', { settleAfter: 1 }), target('b', { settleAfter: 1 }), target('c', { settleAfter: 1 })];
    const incoming$ = hot(' -x-y-z-', { x: received(a, 'from a'), y: received(b, 'from b'), z: received(c, 'from c') });
    const expected = '      -x-y-z-';
    expectObservable(incoming$.pipe(relayToOthers(() => [a, b, c]), map(plainOutgoing))).toBe(expected, {
      x: { to: 'b,c', info: 'from a' },
      y: { to: 'a,c', info: 'from b' },
      z: { to: 'a,b', info: 'from c' },
    });
  });
});

test('relayToOthers reads the list of targets again for each message', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ hot, expectObservable }) => {
    const { target } = fakeTargets(scheduler);
    const [a, b, c] = [target('a', { settleAfter: 1 }), target('b', { settleAfter: 1 }), target('c', { settleAfter: 1 })];
    const live = [a, b];
    scheduler.schedule(() => live.push(c), 2); // c connects
    scheduler.schedule(() => live.splice(live.indexOf(b), 1), 4); // b leaves
    const incoming$ = hot(' -x-y-z-', { x: received(a, 'one'), y: received(a, 'two'), z: received(c, 'three') });
    const expected = '      -x-y-z-';
    expectObservable(incoming$.pipe(relayToOthers(() => live), map(plainOutgoing))).toBe(expected, {
      x: { to: 'b', info: 'one' },
      y: { to: 'b,c', info: 'two' },
      z: { to: 'a', info: 'three' },
    });
  });
});

test('relayToOthers sends what rewrite makes of each message', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ hot, expectObservable }) => {
    const { target } = fakeTargets(scheduler);
    const [a, b] = [target('a', { settleAfter: 1 }), target('b', { settleAfter: 1 })];
    const rewrite = (r: Received<FakeTarget>) => ({ header: { info: `${r.from.id} says ${r.header['info']}` } });
    const incoming$ = hot(' -x-', { x: received(a, 'hello') });
    const expected = '      -x-';
    expectObservable(incoming$.pipe(relayToOthers(() => [a, b], rewrite), map(plainOutgoing))).toBe(expected, {
      x: { to: 'b', info: 'a says hello' },
    });
  });
});

test('a relay chain sends each message to the others and closes the ones that fail', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ hot, expectObservable }) => {
    const { target, closes$ } = fakeTargets(scheduler);
    const a = target('a', { settleAfter: 2 });
    const b = target('b', { settleAfter: 1 });
    const s = target('s', { refuse: 'queue-full' });
    const incoming$ = hot('-x---y----', { x: received(a, 'hi'), y: received(b, 'yo') });
    const expected = '     -(bs)(as)-';
    const closes = '       -S---S----';
    const slow = { id: 's', reason: CloseReasonKind.SlowConsumer, code: ErrorCode.QueueFull };
    expectObservable(closes$).toBe(closes, { S: slow });
    const outcomes$ = incoming$.pipe(relayToOthers(() => [a, b, s]), sendEach(), closeOnFailure(), map(plainOutcome));
    expectObservable(outcomes$).toBe(expected, {
      a: { id: 'a', ok: true },
      b: { id: 'b', ok: true },
      s: { id: 's', ok: false, code: ErrorCode.QueueFull },
    });
  });
});
