/**
 * Reference (a): the seed's wire format over bare `node:net`, the near-limit reference. Writes of
 * one tick are batched with cork()/uncork(); senders stop when write() returns false and go on at
 * 'drain'; receivers use the minimal streaming decoder of `shared/seed.ts`. Its broadcast writes
 * the same encoded Buffer to every socket and keeps the fan-out pacing rule of `shared/fan-out.ts`
 * (a "plain node:net server with a 16 KiB write window"), skipping a socket that stopped draining.
 */
import { connect as netConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { FILL_CONTENT_BYTES, FILL_HEADER, FanOutPacer, fillUntilFull } from '../shared/fan-out.js';
import { chat, makeContent, news, ping, pong, now } from '../shared/messages.js';
import { SeedDecoder, encodeHead, type OnFrame } from '../shared/seed.js';
import { Counter, DIAL_CONCURRENCY, describe, openMany, type BenchClient, type BenchServer, type ClientSetup, type Implementation, type ServerSetup } from './types.js';

/** One socket's writer: every frame written in a tick leaves in one writev. */
class FrameWriter {
  /** The fan-out's pacing found this socket slow (see shared/fan-out.ts): broadcasts skip it. */
  slow = false;
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

/** Resolves once the socket's buffer is empty ('drain'), or the socket closed. */
function drained(socket: Socket): Promise<void> {
  if (socket.writableLength === 0 || socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

function decode(socket: Socket, onFrame: OnFrame): void {
  const decoder = new SeedDecoder(onFrame);
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
}

async function listen(setup: ServerSetup): Promise<BenchServer> {
  const writers: FrameWriter[] = [];
  const pacer = new FanOutPacer<FrameWriter>(
    (writer) => drained(writer.socket),
    (writer, slow) => (writer.slow = slow),
  );
  const open = new Counter();
  const server = createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    const writer = new FrameWriter(socket);
    socket.on('close', () => {
      // A peer that left is written to no more (the fan-out scenarios' stalled peers come and go).
      const at = writers.indexOf(writer);
      if (at >= 0) writers.splice(at, 1);
      pacer.slow.delete(writer);
      open.add(-1);
    });
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
    whenConnectionsAtMost: (count) => open.fall(count),
    broadcast: async (count) => {
      for (let seq = 0; seq < count; ) {
        const head = encodeHead(news(seq++), 0);
        let blocked: FrameWriter[] | undefined;
        for (const writer of writers) {
          if (writer.slow) continue; // a socket that stopped draining is skipped
          if (!writer.write(head)) (blocked ??= []).push(writer);
        }
        if (blocked) await pacer.wait(blocked);
      }
      return { errors: 0, pace: pacer.take(), targets: writers.length - pacer.slow.size };
    },
    fill: (ports) => {
      const wanted = new Set(ports);
      const content = makeContent(FILL_CONTENT_BYTES);
      const head = encodeHead(FILL_HEADER, content.length);
      const targets = writers.filter((writer) => wanted.has(writer.socket.remotePort ?? -1));
      return fillUntilFull(
        targets,
        (writer) => (writer.write(head, content), head.length + content.length),
        (writer) => writer.socket.writableLength,
      );
    },
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
  let stalled: Socket[] = [];
  return {
    connect: { opened: sockets.length, failed: dialled.failed, ...(dialled.firstError ? { firstError: dialled.firstError } : {}) },
    stall: async (count) => {
      const more = await openMany(count, DIAL_CONCURRENCY, dial);
      if (more.failed > 0) throw new Error(`${more.failed} of ${count} dials failed: ${more.firstError}`);
      for (const socket of more.opened) socket.pause(); // a peer that stops reading, for good
      stalled.push(...more.opened);
      return more.opened.map((socket) => socket.localPort!);
    },
    unstall: async () => {
      for (const socket of stalled) socket.destroy();
      stalled = [];
    },
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
