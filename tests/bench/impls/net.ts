/**
 * Reference (a): the seed's wire format over bare `node:net`, the near-limit reference. Writes of
 * one tick are batched with cork()/uncork(); senders stop when write() returns false and go on at
 * 'drain'; receivers use the minimal streaming decoder of `shared/seed.ts`.
 */
import { connect as netConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { chat, news, ping, pong, now } from '../shared/messages.js';
import { SeedDecoder, encodeHead, type OnFrame } from '../shared/seed.js';
import { Counter, DIAL_CONCURRENCY, describe, openMany, type BenchClient, type BenchServer, type ClientSetup, type Implementation, type ServerSetup } from './types.js';

/** One socket's writer: every frame written in a tick leaves in one writev. */
class FrameWriter {
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  constructor(readonly socket: Socket) {}

  /** Writes a frame; false when the socket's buffer is full (wait for 'drain'). */
  write(head: Buffer, content?: Buffer): boolean {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    const ok = this.socket.write(head);
    return content === undefined || content.length === 0 ? ok : this.socket.write(content);
  }
}

function decode(socket: Socket, onFrame: OnFrame): void {
  const decoder = new SeedDecoder(onFrame);
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
}

async function listen(setup: ServerSetup): Promise<BenchServer> {
  const writers: FrameWriter[] = [];
  const open = new Counter();
  const server = createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    socket.on('close', () => open.add(-1));
    const writer = new FrameWriter(socket);
    writers.push(writer);
    open.add(1);
    if (setup.mode === 'throughput') {
      decode(socket, setup.check());
    } else if (setup.mode === 'ping-pong') {
      decode(socket, (header) => writer.write(encodeHead(pong(header['seq']!), 0)));
    } else {
      socket.resume(); // broadcast, idle: nothing comes in, but a FIN must be seen
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    whenConnections: (count) => open.reach(count),
    broadcast: (count) =>
      new Promise((resolve) => {
        let seq = 0;
        const pump = (): void => {
          while (seq < count) {
            const head = encodeHead(news(seq++), 0);
            const blocked: Socket[] = [];
            for (const writer of writers) if (!writer.write(head)) blocked.push(writer.socket);
            if (blocked.length > 0) {
              let waiting = blocked.length;
              for (const socket of blocked) socket.once('drain', () => --waiting === 0 && pump());
              return;
            }
          }
          resolve({ errors: 0 });
        };
        pump();
      }),
    stop: async () => {
      for (const writer of writers) writer.socket.destroy();
      server.close();
    },
  };
}

async function connect(setup: ClientSetup): Promise<BenchClient> {
  const dial = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const socket = netConnect({ host: '127.0.0.1', port: setup.port, noDelay: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', () => {});
        resolve(socket);
      });
      socket.once('error', reject);
    });
  const dialled = await openMany(setup.connections, DIAL_CONCURRENCY, dial);
  const sockets = dialled.opened;
  const writer = sockets[0] ? new FrameWriter(sockets[0]) : undefined;
  let onPong: OnFrame = () => {};
  for (const socket of sockets) {
    if (setup.mode === 'broadcast') decode(socket, setup.check());
    else if (setup.mode === 'ping-pong') decode(socket, (header, content) => onPong(header, content));
    else socket.resume();
  }
  return {
    connect: { opened: sockets.length, failed: dialled.failed, ...(dialled.firstError ? { firstError: dialled.firstError } : {}) },
    send: (count, content) =>
      new Promise((resolve) => {
        const socket = writer!.socket;
        let seq = 0;
        const pump = (): void => {
          while (seq < count) {
            if (!writer!.write(encodeHead(chat(seq++), content.length), content)) {
              socket.once('drain', pump);
              return;
            }
          }
          resolve({ errors: 0 });
        };
        pump();
      }),
    pingPong: (count) =>
      new Promise((resolve) => {
        const rtts: number[] = [];
        let errors = 0;
        let firstError: string | undefined;
        let seq = 0;
        let sentAt = 0;
        const send = (): void => {
          sentAt = now();
          writer!.write(encodeHead(ping(seq), 0));
        };
        onPong = (header) => {
          rtts.push(now() - sentAt);
          if (header['type'] !== 'pong' || Number(header['seq']) !== seq) {
            errors++;
            firstError ??= describe(new Error(`pong ${header['seq']} for ping ${seq}`));
          }
          if (++seq < count) send();
          else resolve(firstError === undefined ? { rtts, errors } : { rtts, errors, firstError });
        };
        send();
      }),
    stop: async () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}

export const implementation: Implementation = { listen, connect };
