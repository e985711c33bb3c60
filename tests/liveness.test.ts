/**
 * Liveness: the watchdog's heartbeat and deadlines as marbles in virtual time, then the Messenger's
 * use of them (ping and pong, rtt, keepalive) in memory and over loopback.
 */
import test from 'ava';
import type { Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { CloseReasonKind } from '../lib/connection/close-reason.js';
import { Activity, liveness } from '../lib/connection/liveness.js';
import { Messenger, type MessengerOptions } from '../lib/connection/messenger.js';
import { ErrorCode, IdleTimeoutError } from '../lib/errors.js';
import { MemoryHub, messengerPair, socketPair } from '../lib/testing/index.js';
import { link, next, rawPeer, socketClosed, startClient, startServer, waitFor } from './helpers/loopback.js';
import { testScheduler } from './helpers/marbles.js';

/**
 * Plays a marble of connection activity into `activity`: `r` bytes that finish a frame (and end on
 * a boundary), `p` bytes of an unfinished frame, `f` bytes that finish a frame and start another,
 * `s` a frame sent.
 */
function play(activity: Activity, scheduler: TestScheduler, events$: Observable<string>): void {
  // As a Messenger does: the clock only when the activity says it needs it, else a time that is wrong.
  const receive = (completed: boolean, atBoundary: boolean): void =>
    activity.received(activity.needsTime(completed, atBoundary) ? scheduler.now() : -1000, completed, atBoundary);
  events$.subscribe((event) => {
    if (event === 'r') receive(true, true);
    else if (event === 'p') receive(false, false);
    else if (event === 'f') receive(true, false);
    else if (event === 's') activity.sent(scheduler.now());
  });
}

const signals = {
  h: 'heartbeat',
  i: CloseReasonKind.IdleTimeout,
  x: CloseReasonKind.FrameTimeout,
  m: CloseReasonKind.FirstMessageTimeout,
} as const;

test('the middle chunks of a large frame need no clock read, unless an idle deadline watches every byte', (t) => {
  const activity = new Activity();
  t.true(activity.needsTime(false, false), 'a frame starts');
  activity.received(5, false, false);
  t.is(activity.frameStartedAt, 5);
  t.false(activity.needsTime(false, false), 'the same frame goes on');
  t.false(activity.needsTime(true, true), 'it ends on a boundary');
  t.true(activity.needsTime(true, false), 'it ends and the next one starts');
  t.is(activity.receivedAt, -1, 'no idle deadline: the time of the latest bytes is not kept');
  activity.watchesIdle = true;
  t.true(activity.needsTime(false, false));
  activity.received(9, false, false);
  t.is(activity.receivedAt, 9);
  t.is(activity.frameStartedAt, 5, 'the frame still started at 5');
});

// The watchdog, in virtual time (1 frame = 1 ms)

test('the heartbeat comes each time nothing was sent for heartbeatMs, and a send puts it off', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const activity = new Activity();
    play(activity, scheduler, cold('---s-----------s'));
    // Beats at 8 (3 + 5), 13, then the send at 15 puts the next off to 20, then 25.
    const unsubscribe = '^ 27ms !';
    const expected = '8ms h 4ms h 6ms h 4ms h';
    expectObservable(liveness(activity, { heartbeatMs: 5 }, scheduler), unsubscribe).toBe(expected, signals);
  });
});

test('a connection that receives nothing for idleTimeoutMs times out, and traffic puts the deadline off', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const activity = new Activity();
    play(activity, scheduler, cold('--r---p---r'));
    // The latest bytes came at 10: the deadline is 10 + 6.
    expectObservable(liveness(activity, { idleTimeoutMs: 6 }, scheduler)).toBe('16ms (i|)', signals);
  });
});

test('sending does not count as activity for the idle deadline', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const activity = new Activity();
    play(activity, scheduler, cold('-s-s-s-s-s'));
    expectObservable(liveness(activity, { idleTimeoutMs: 6 }, scheduler)).toBe('6ms (i|)', signals);
  });
});

test('a frame not finished frameTimeoutMs after its first byte times out, however its bytes trickle', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const activity = new Activity();
    // A whole frame at 1; a frame starts at 4 and trickles on at 6, 8, 10: still due at 4 + 8.
    play(activity, scheduler, cold('-r--p-p-p-p'));
    expectObservable(liveness(activity, { frameTimeoutMs: 8 }, scheduler)).toBe('12ms (x|)', signals);
  });
});

test('frames finished within frameTimeoutMs never time out, even when each starts in the bytes that end another', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const activity = new Activity();
    // Each frame lasts 4 ms, under the 5 ms deadline; the last one ends on a boundary at 17.
    play(activity, scheduler, cold('-p---f---f---f---r'));
    expectObservable(liveness(activity, { frameTimeoutMs: 5 }, scheduler), '^ 40ms !').toBe('', signals);
  });
});

test('the frame deadline is armed by a frame that starts while the timer sleeps for a later deadline', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const activity = new Activity();
    play(activity, scheduler, cold('--p'));
    // The idle deadline (at 20) is asleep when the frame starts at 2: the frame's (at 7) comes first.
    expectObservable(liveness(activity, { frameTimeoutMs: 5, idleTimeoutMs: 20 }, scheduler)).toBe('7ms (x|)', signals);
  });
});

test('no whole message within firstMessageTimeoutMs times out; half a frame does not count', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const silent = new Activity();
    expectObservable(liveness(silent, { firstMessageTimeoutMs: 5 }, scheduler)).toBe('5ms (m|)', signals);

    const half = new Activity();
    play(half, scheduler, cold('-p'));
    expectObservable(liveness(half, { firstMessageTimeoutMs: 5 }, scheduler)).toBe('5ms (m|)', signals);

    const spoken = new Activity();
    play(spoken, scheduler, cold('---r'));
    expectObservable(liveness(spoken, { firstMessageTimeoutMs: 5 }, scheduler), '^ 20ms !').toBe('', signals);
  });
});

test('the connect check is one heartbeat at connectCheckMs, only when nothing was sent before', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const quiet = new Activity();
    expectObservable(liveness(quiet, { connectCheckMs: 5 }, scheduler), '^ 20ms !').toBe('5ms h', signals);

    const talkative = new Activity();
    play(talkative, scheduler, cold('--s'));
    expectObservable(liveness(talkative, { connectCheckMs: 5 }, scheduler), '^ 20ms !').toBe('', signals);
  });
});

test('with every deadline and the heartbeat off the watchdog never wakes', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ expectObservable }) => {
    const activity = new Activity();
    expectObservable(liveness(activity, {}, scheduler), '^ 50ms !').toBe('', signals);
  });
});

test('a heartbeat keeps the peer alive but not this side: heartbeats out do not stop an idle timeout', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ expectObservable }) => {
    const activity = new Activity();
    expectObservable(liveness(activity, { heartbeatMs: 3, idleTimeoutMs: 10 }, scheduler)).toBe('3ms h 2ms h 2ms h (i|)', signals);
  });
});

// The Messenger's watchdog, on a TestScheduler driven by hand

test('a MemoryHub on a TestScheduler closes a silent peer as idle-timeout at exactly idleTimeoutMs of virtual time', async (t) => {
  const scheduler = new TestScheduler(() => {});
  scheduler.maxFrames = 10_000;
  const hub = new MemoryHub({ scheduler, idleTimeoutMs: 3000 });
  t.teardown(() => hub.stop());
  hub.connectPeer();
  const messenger = hub.messengers[0]!;
  let closedAt = -1;
  messenger.closed$.subscribe(() => (closedAt = scheduler.now()));
  scheduler.flush();
  t.is(closedAt, 3000);
  t.is(messenger.closeReason?.reason, CloseReasonKind.IdleTimeout);
  t.true(messenger.closeReason?.error instanceof IdleTimeoutError);
  t.is((messenger.closeReason?.error as IdleTimeoutError).code, ErrorCode.IdleTimeout);
});

// Heartbeat, ping and pong, keepalive

test('a ping is answered with a pong, rtt$ reports the round trip, and neither reaches messages$', async (t) => {
  const [a, b] = messengerPair({ heartbeatMs: 20 });
  t.teardown(() => {
    a.close();
    b.close();
  });
  const delivered: string[] = [];
  a.messages$.subscribe((m) => delivered.push(`a ${JSON.stringify(m.header)}`));
  b.messages$.subscribe((m) => delivered.push(`b ${JSON.stringify(m.header)}`));
  t.is(a.rtt, undefined);
  const fromA = await next(a.rtt$);
  // Read in the same turn: the next pong can only come in a later one.
  t.is(a.rtt, fromA);
  t.is(a.stats().rtt, fromA);
  t.true(Number.isFinite(fromA) && fromA >= 0);
  const fromB = await next(b.rtt$);
  t.true(Number.isFinite(fromB) && fromB >= 0);
  t.deepEqual(delivered, []);
  a.close();
  t.is(await next(a.rtt$, 1000).catch((error: unknown) => (error as Error).name), 'EmptyError', 'rtt$ completes on close');
});

test('the Messenger turns TCP keepalive on with keepAliveDelayMs', (t) => {
  const [near, far] = socketPair();
  const calls: unknown[][] = [];
  near.setKeepAlive = (...args: unknown[]) => {
    calls.push(args);
    return near;
  };
  const options: MessengerOptions = { keepAliveDelayMs: 15_000 };
  const messenger = new Messenger(near, 'k', options);
  t.teardown(() => {
    messenger.close();
    far.destroy();
  });
  t.deepEqual(calls, [[true, 15_000]]);
});

test('a silent peer is closed as idle-timeout, over loopback', async (t) => {
  const server = await startServer(t, { idleTimeoutMs: 100 });
  const { raw, peer: messenger } = await rawPeer(t, server);
  const reason = await next(messenger.closed$);
  t.is(reason.reason, CloseReasonKind.IdleTimeout);
  t.true(reason.error instanceof IdleTimeoutError);
  await socketClosed(raw);
  t.is(server.stats().closes[CloseReasonKind.IdleTimeout], 1);
});

test('heartbeats on both ends keep a quiet connection open past its idle deadline, and measure rtt', async (t) => {
  // 15 beats per idle deadline: the stalls of a loaded machine do not matter.
  const liveness = { heartbeatMs: 20, idleTimeoutMs: 300 };
  const server = await startServer(t, liveness);
  const { client, server: peer } = await link(server, startClient(t, liveness));
  // Enough beats each way to span several idle deadlines.
  await waitFor(() => peer.stats().messagesIn >= 40 && client.stats().messagesIn >= 40, 'forty heartbeats each way');
  t.false(client.closed);
  t.false(peer.closed);
  t.not(client.rtt, undefined);
  t.not(peer.rtt, undefined);
  const atServer = next(peer.messages$);
  await client.send({ info: 'still here' });
  t.is((await atServer).header['info'], 'still here');
});

// The write deadline, in virtual time: `q` 100 bytes queued (the connection tells), `m` the kernel
// takes 10 of them, `e` it takes them all.

function playWrites(activity: Activity, events$: Observable<string>): void {
  const writes = { queuedBytes: 0, handedBytes: 0 };
  activity.writes = writes;
  events$.subscribe((event) => {
    if (event === 'q') {
      writes.queuedBytes += 100;
      activity.queued();
    } else if (event === 'm') {
      writes.queuedBytes -= 10;
      writes.handedBytes += 10;
    } else if (event === 'e') {
      writes.handedBytes += writes.queuedBytes;
      writes.queuedBytes = 0;
    }
  });
}

const slow = { c: CloseReasonKind.SlowConsumer } as const;

test('queued bytes that make no progress for writeTimeoutMs close the connection as slow-consumer', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const activity = new Activity();
    playWrites(activity, cold('-q'));
    expectObservable(liveness(activity, { writeTimeoutMs: 8 }, scheduler)).toBe('9ms (c|)', slow);
  });
});

test('progress puts the write deadline off, and the close comes within 1.25 deadlines of the last progress', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const activity = new Activity();
    // Queued at 1, looked at every 2 ms: the look at 7 sees the progress made at 6; none until 7 + 8.
    playWrites(activity, cold('-q----m'));
    expectObservable(liveness(activity, { writeTimeoutMs: 8 }, scheduler)).toBe('15ms (c|)', slow);
  });
});

test('a queue that empties stops the write deadline, and one that fills again starts it afresh', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const activity = new Activity();
    // Queued at 1 and emptied at 4, before any deadline; queued again at 21.
    playWrites(activity, cold('-q--e----------------q'));
    expectObservable(liveness(activity, { writeTimeoutMs: 8 }, scheduler)).toBe('29ms (c|)', slow);
  });
});

test('a reader that keeps taking bytes, however slowly, is never closed by the write deadline', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const activity = new Activity();
    playWrites(activity, cold('-q------m------m------m------m------m'));
    expectObservable(liveness(activity, { writeTimeoutMs: 8 }, scheduler), '^ 40ms !').toBe('', slow);
  });
});
