/**
 * Reference (c): `axon` 2, each seed frame sent as axon message parts — the prefix and header
 * text, then the content when there is any. Push/pull for throughput, req/rep for ping-pong,
 * pub/sub for broadcast and idle connections. axon's `send()` reports no backpressure, so the
 * senders watch the TCP sockets it writes to (`socks`) and wait for their 'drain'.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import axon, { type PubSocket, type PushSocket, type ReqSocket, type SubSocket } from 'axon';
import { chat, news, now, ping, pong } from '../shared/messages.js';
import { encodeHead, parseHeader, type SeedHeader } from '../shared/seed.js';
import type { Check } from '../shared/tally.js';
import { Counter, DIAL_CONCURRENCY, describe, openMany, type BenchClient, type BenchServer, type ClientSetup, type Implementation, type PingPongResult, type ServerSetup } from './types.js';

const EMPTY = Buffer.alloc(0);

/** The header of a seed head part; its `CL` must match the content part. */
function headerOf(head: Buffer, content: Buffer): SeedHeader {
  const header = parseHeader(head, 2, 2 + head.readUInt16LE(0));
  if (Number(header['CL']) !== content.length) throw new Error(`CL ${header['CL']} but ${content.length} content bytes`);
  return header;
}

function checked(check: Check): (head: Buffer, content?: Buffer) => void {
  return (head, content = EMPTY) => check(headerOf(head, content), content);
}

/** Resolves when every socket that asked for it has drained. */
function drained(sockets: Socket[]): Promise<void> {
  return Promise.all(sockets.map((socket) => once(socket, 'drain'))).then(() => undefined);
}

async function bound<T extends { bind(port: number, host: string, done: () => void): unknown; address(): { port: number } | undefined }>(socket: T): Promise<number> {
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket.address()!.port;
}

async function listen(setup: ServerSetup): Promise<BenchServer> {
  const type = setup.mode === 'throughput' ? 'pull' : setup.mode === 'ping-pong' ? 'rep' : 'pub';
  const socket = axon.socket(type as 'pub');
  const open = new Counter();
  socket.on('connect', () => open.add(1));
  socket.on('disconnect', () => open.add(-1));
  if (setup.mode === 'throughput') {
    socket.on('message', checked(setup.check()));
  } else if (setup.mode === 'ping-pong') {
    socket.on('message', (head: Buffer, reply: (...parts: Buffer[]) => void) => {
      reply(encodeHead(pong(headerOf(head, EMPTY)['seq']!), 0));
    });
  }
  const port = await bound(socket);
  return {
    port,
    whenConnections: (count) => open.reach(count),
    broadcast: async (count) => {
      const pub: PubSocket = socket;
      for (let seq = 0; seq < count; seq++) {
        pub.send(encodeHead(news(seq), 0));
        const blocked = pub.socks.filter((s) => s.writableNeedDrain);
        if (blocked.length > 0) await drained(blocked);
      }
      return { errors: 0 };
    },
    stop: async () => socket.close(),
  };
}

async function connect(setup: ClientSetup): Promise<BenchClient> {
  const type = setup.mode === 'throughput' ? 'push' : setup.mode === 'ping-pong' ? 'req' : 'sub';
  const dial = async (): Promise<SubSocket> => {
    const socket = axon.socket(type as 'sub');
    await new Promise<void>((resolve) => socket.connect(setup.port, '127.0.0.1', resolve));
    return socket;
  };
  const dialled = await openMany(setup.connections, DIAL_CONCURRENCY, dial);
  const sockets = dialled.opened;
  if (setup.mode === 'broadcast') for (const socket of sockets) socket.on('message', checked(setup.check()));
  return {
    connect: { opened: sockets.length, failed: dialled.failed, ...(dialled.firstError ? { firstError: dialled.firstError } : {}) },
    send: async (count, content) => {
      const push = sockets[0] as unknown as PushSocket;
      const tcp = push.socks[0]!;
      for (let seq = 0; seq < count; seq++) {
        const head = encodeHead(chat(seq), content.length);
        if (content.length === 0) push.send(head);
        else push.send(head, content);
        if (tcp.writableNeedDrain) await once(tcp, 'drain');
      }
      return { errors: 0 };
    },
    pingPong: (count) =>
      new Promise<PingPongResult>((resolve) => {
        const req = sockets[0] as unknown as ReqSocket;
        const rtts: number[] = [];
        let errors = 0;
        let firstError: string | undefined;
        let seq = 0;
        let sentAt = 0;
        const onPong = (head: Buffer): void => {
          rtts.push(now() - sentAt);
          const header = headerOf(head, EMPTY);
          if (header['type'] !== 'pong' || Number(header['seq']) !== seq) {
            errors++;
            firstError ??= describe(new Error(`pong ${header['seq']} for ping ${seq}`));
          }
          if (++seq < count) return send();
          resolve(firstError === undefined ? { rtts, errors } : { rtts, errors, firstError });
        };
        const send = (): void => {
          sentAt = now();
          req.send(encodeHead(ping(seq), 0), onPong);
        };
        send();
      }),
    stop: async () => {
      for (const socket of sockets) socket.close();
    },
  };
}

export const implementation: Implementation = { listen, connect };
