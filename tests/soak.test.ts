/**
 * A soak test on loopback, bounded in count and time: one Server; 20 well-behaved clients exchange
 * numbered messages with it while 200 other connections open and close in waves around them (some
 * silent, some with a message, some ending with FIN, some with a reset), a garbage sender writes
 * random bytes and a slowloris client starts a frame and dribbles it. The well-behaved clients lose
 * nothing and get nothing out of order, the two attackers are closed with their own reasons, and at
 * the end the server holds no connection and no socket more than before.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { getActiveResourcesInfo } from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { CloseReasonKind } from '../lib/connection/close-reason.js';
import { FrameTimeoutError, ProtocolError } from '../lib/errors.js';
import { encodeFrame } from '../lib/protocol/index.js';
import { WAIT_MS, next, rawConnect, rawFrame, serverSideOf, socketClosed, startClient, startServer, waitFor, within } from './helpers/loopback.js';

const CLIENTS = 20;
const MESSAGES = 150;
const MAX_MESSAGES = 5000;
const CHURN = 200;
const WAVE = 20;
const FRAME_TIMEOUT_MS = 1000;

/**
 * Sockets and listening sockets this process holds open. Only TCP handles are counted: the timers
 * of the test's own waits come and go, and would make a count of every handle drift.
 */
const tcpHandles = () => getActiveResourcesInfo().filter((name) => name.startsWith('TCP')).length;

/** Random-looking bytes, the same every run: SHA-256 of a counter, block after block. */
function noise(length: number): Buffer {
  const blocks = Array.from({ length: Math.ceil(length / 32) }, (_, i) => createHash('sha256').update(`garbage ${i}`).digest());
  return Buffer.concat(blocks).subarray(0, length);
}

test('a server keeps every message of its well-behaved clients in order through churn, garbage and a slowloris, and ends with no connection or socket left', async (t) => {
  t.timeout(60_000);
  const server = await startServer(t, { frameTimeoutMs: FRAME_TIMEOUT_MS });
  await sleep(10);
  const baseline = tcpHandles();

  // The server echoes every numbered message to its sender and records what each connection sent.
  const seenByServer = new Map<string, string[]>();
  server.incoming$.subscribe(({ from, header }) => {
    if (header['seq'] === undefined) return;
    const seen = seenByServer.get(from.id) ?? [];
    seen.push(`${header['client']}:${header['seq']}`);
    seenByServer.set(from.id, seen);
    from.send(header).catch(() => {});
  });

  const clients = Array.from({ length: CLIENTS }, () => startClient(t));
  const connections = await Promise.all(clients.map((client) => next(client.connect('127.0.0.1', server.address.port))));

  // The attackers join first, so that their server sides are known before they misbehave.
  const garbage = await rawConnect(t, server.address.port);
  const garbageSide = await serverSideOf(server, garbage);
  const slowloris = await rawConnect(t, server.address.port);
  const slowlorisSide = await serverSideOf(server, slowloris);

  // Each client sends at least MESSAGES, and goes on until the churn is over (at most MAX_MESSAGES).
  let churnOver = false;
  const exchange = async (index: number) => {
    const messenger = connections[index]!;
    const echoes: string[] = [];
    messenger.messages$.subscribe(({ header }) => echoes.push(`${header['client']}:${header['seq']}`));
    const sent: string[] = [];
    for (let seq = 0; seq < MAX_MESSAGES && (seq < MESSAGES || !churnOver); seq++) {
      await messenger.send({ client: index, seq });
      sent.push(`${index}:${seq}`);
      if (seq % 10 === 9) await sleep(2); // spread the exchange over the churn
    }
    await waitFor(() => echoes.length >= sent.length, `client ${index}'s ${sent.length} echoes`, 3 * WAIT_MS);
    return { sent, echoes };
  };

  // Random bytes whose first frame announces a short header with no ':' in it: a sure ProtocolError.
  const sendGarbage = async () => {
    const bytes = noise(4096);
    bytes.writeUInt16LE(16, 0);
    for (let i = 2; i < 18; i++) if (bytes[i] === 0x3a) bytes[i] = 0x20;
    for (let at = 0; at < bytes.length && !garbage.destroyed; at += 256) {
      garbage.write(bytes.subarray(at, at + 256));
      await sleep(5);
    }
  };

  // A frame's first bytes, then one more byte every 100 ms: never finished within the deadline.
  const dribble = async () => {
    const frame = rawFrame(`CL:0;info:${'x'.repeat(200)}`);
    slowloris.write(frame.subarray(0, 6));
    for (let at = 6; at < 100 && !slowlorisSide.closed && !slowloris.destroyed; at++) {
      slowloris.write(frame.subarray(at, at + 1));
      await sleep(100);
    }
  };

  // 200 short connections, WAVE at a time: silent, with a message, FIN or reset.
  let churned = 0;
  const churn = async () => {
    for (let wave = 0; wave < CHURN / WAVE; wave++) {
      await Promise.all(
        Array.from({ length: WAVE }, async (_, i) => {
          const n = wave * WAVE + i;
          const socket = await rawConnect(t, server.address.port);
          socket.resume();
          if (n % 2 === 1) socket.write(Buffer.concat(encodeFrame({ churn: n })));
          if (n % 4 < 2) socket.end();
          else socket.resetAndDestroy();
          await within(socketClosed(socket), `churn connection ${n} to close`);
          churned++;
        }),
      );
    }
  };

  const [exchanged] = await Promise.all([
    Promise.all(connections.map((_, i) => exchange(i))),
    churn().finally(() => (churnOver = true)),
    sendGarbage(),
    dribble(),
  ]);

  // No message lost or reordered, either way.
  const wellBehaved = await Promise.all(connections.map((messenger) => serverSideOf(server, messenger.socket as Socket)));
  for (let i = 0; i < CLIENTS; i++) {
    t.deepEqual(exchanged[i]!.echoes, exchanged[i]!.sent, `client ${i}'s echoes`);
    t.deepEqual(seenByServer.get(wellBehaved[i]!.id), exchanged[i]!.sent, `what the server got from client ${i}`);
  }
  t.is(churned, CHURN);

  // Each attacker closed with its own reason.
  t.is((await next(garbageSide.closed$)).reason, CloseReasonKind.ProtocolError);
  t.true(garbageSide.closeReason?.error instanceof ProtocolError);
  t.is((await next(slowlorisSide.closed$)).reason, CloseReasonKind.FrameTimeout);
  t.true(slowlorisSide.closeReason?.error instanceof FrameTimeoutError);
  await within(Promise.all([socketClosed(garbage), socketClosed(slowloris)]), 'the attackers\' sockets to close');
  t.true(wellBehaved.every((messenger) => !messenger.closed), 'the well-behaved connections are all still open');

  // Everything closes: the server is back where it started.
  await Promise.all(clients.map((client) => client.stop()));
  await waitFor(() => server.messengers.length === 0, 'the server to see every client go');
  const stats = server.stats();
  t.is(stats.connections, 0);
  t.is(stats.queuedBytes, 0);
  t.is(stats.closes[CloseReasonKind.ProtocolError], 1);
  t.is(stats.closes[CloseReasonKind.FrameTimeout], 1);
  t.is(
    Object.values(stats.closes).reduce((sum, n) => sum + n, 0),
    CHURN + CLIENTS + 2,
    'every connection the server had is closed and counted once',
  );
  await waitFor(() => tcpHandles() <= baseline, `the process to hold no more TCP handles than at the start (${baseline})`);
  t.is(tcpHandles(), baseline);
});
