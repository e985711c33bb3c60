/**
 * rx-tcp-hub, written as a user would: `Server.listen`, `client.connect`, `incoming$` and
 * `messages$` subscriptions, `messenger.send` and `server.broadcast`. Senders keep a window of
 * send promises in flight (see `send-window.ts`); broadcast, whose promise settles once every
 * target has queued the frame, keeps the fan-out pacing rule of `shared/fan-out.ts` on each
 * target's `messenger.queuedBytes`. The library is the one the runner compiled from
 * `lib/` at its start (see `build.ts`), or `lib/` itself with `--from-source`: changes to `lib/`
 * show up in the next run either way.
 */
import type { Socket } from 'node:net';
import { EMPTY, catchError, lastValueFrom, mergeMap, range, toArray } from 'rxjs';
import type { Messenger } from '../../../lib/index.js';
import { LIB_ENV } from '../build.js';

const { Client, Server } = (await import(process.env[LIB_ENV] ?? '../../../lib/index.js')) as typeof import('../../../lib/index.js');
import { FAN_OUT_WINDOW_BYTES, FILL_CONTENT_BYTES, FILL_HEADER, FanOutPacer, fillUntilFull } from '../shared/fan-out.js';
import { HEADER_FRAME_BYTES, chat, makeContent, news, now, ping, pong } from '../shared/messages.js';
import { SendWindow, windowFor } from '../shared/send-window.js';
import { DIAL_CONCURRENCY, describe, type BenchClient, type BenchServer, type ClientSetup, type Implementation, type PingPongResult, type ServerSetup } from './types.js';

async function listen(setup: ServerSetup): Promise<BenchServer> {
  const server = await Server.listen({ host: '127.0.0.1', port: 0 });
  const pacer = new FanOutPacer<Messenger>((messenger) => messenger.flushed());
  if (setup.mode === 'throughput') {
    // One connection in this mode: one checker for everything incoming.
    const check = setup.check();
    server.incoming$.subscribe(({ header, content }) => check(header, content));
  } else if (setup.mode === 'ping-pong') {
    server.incoming$.subscribe(({ from, header }) => {
      // A lost pong stalls the client's round, which the runner reports as a timeout.
      from.send(pong(header['seq']!)).catch((error: unknown) => console.error(`echo failed: ${describe(error)}`));
    });
  }
  return {
    port: server.address.port,
    whenConnections: (count) => whenAlive(server, (alive) => alive >= count),
    whenConnectionsAtMost: (count) => whenAlive(server, (alive) => alive <= count),
    broadcast: async (count) => {
      for (const messenger of pacer.slow) if (messenger.closed) pacer.slow.delete(messenger);
      let refused = 0;
      let firstError: string | undefined;
      for (let seq = 0; seq < count; seq++) {
        // Settles once every target has queued the frame (or refused it, and was closed).
        const outcomes = await server.broadcast(news(seq));
        let blocked: Messenger[] | undefined;
        for (const outcome of outcomes) {
          if (!outcome.ok) {
            refused++;
            firstError ??= describe(outcome.error);
            continue;
          }
          const messenger = outcome.target;
          if (messenger.queuedBytes >= FAN_OUT_WINDOW_BYTES && !pacer.isSlow(messenger)) (blocked ??= []).push(messenger);
        }
        if (blocked) await pacer.wait(blocked);
      }
      const result = { errors: 0, refused, pace: pacer.take(), targets: server.messengers.length };
      return firstError === undefined ? result : { ...result, firstError };
    },
    fill: (ports) => {
      const wanted = new Set(ports);
      const content = makeContent(FILL_CONTENT_BYTES);
      const targets = server.messengers.filter((messenger) => wanted.has(messenger.addr.port));
      return fillUntilFull(
        targets,
        (messenger) => {
          messenger.send(FILL_HEADER, content).catch(() => {});
          return content.length;
        },
        (messenger) => messenger.queuedBytes,
      );
    },
    stop: () => server.stop(),
  };
}

/** Resolves once the count of live connections passes `test` (at once if it does now). */
async function whenAlive(server: InstanceType<typeof Server>, test: (alive: number) => boolean): Promise<void> {
  await new Promise<void>((resolve) => {
    if (test(server.messengers.length)) return resolve();
    const subscription = server.connections$.subscribe((event) => {
      if (test(event.alive)) {
        resolve();
        queueMicrotask(() => subscription.unsubscribe());
      }
    });
  });
}

async function connect(setup: ClientSetup): Promise<BenchClient> {
  const client = new Client();
  const dialMany = async (count: number): Promise<{ messengers: Messenger[]; failed: number; firstError?: string }> => {
    let failed = 0;
    let firstError: string | undefined;
    const messengers = await lastValueFrom(
      range(0, count).pipe(
        mergeMap(
          () =>
            client.connect('127.0.0.1', setup.port).pipe(
              catchError((error: unknown) => {
                failed++;
                firstError ??= describe(error);
                return EMPTY;
              }),
            ),
          DIAL_CONCURRENCY,
        ),
        toArray(),
      ),
    );
    return firstError === undefined ? { messengers, failed } : { messengers, failed, firstError };
  };
  const { messengers, failed, firstError } = await dialMany(setup.connections);
  if (setup.mode === 'broadcast') {
    for (const messenger of messengers) {
      const check = setup.check();
      messenger.messages$.subscribe(({ header, content }) => check(header, content));
    }
  }
  const messenger: Messenger | undefined = messengers[0];
  let stalled: Socket[] = [];
  return {
    connect: { opened: messengers.length, failed, ...(firstError ? { firstError } : {}) },
    stall: async (count) => {
      const more = await dialMany(count);
      if (more.failed > 0) throw new Error(`${more.failed} of ${count} dials failed: ${more.firstError}`);
      // Peers that stop reading, for good: nothing subscribes to their messages$, which would resume them.
      const sockets = more.messengers.map((m) => m.socket as Socket);
      for (const socket of sockets) socket.pause();
      stalled.push(...sockets);
      return sockets.map((socket) => socket.localPort!);
    },
    unstall: async () => {
      for (const socket of stalled) socket.destroy();
      stalled = [];
    },
    send: async (count, content) => {
      const window = new SendWindow(windowFor(HEADER_FRAME_BYTES + content.length));
      for (let seq = 0; seq < count; seq++) {
        if (window.full) await window.empty();
        window.track(messenger!.send(chat(seq), content));
      }
      await window.empty();
      return window.firstError === undefined ? { errors: window.errors } : { errors: window.errors, firstError: describe(window.firstError) };
    },
    pingPong: (count) =>
      new Promise<PingPongResult>((resolve) => {
        const rtts: number[] = [];
        let errors = 0;
        let firstError: string | undefined;
        let seq = 0;
        let sentAt = 0;
        const fail = (error: unknown): void => {
          errors++;
          firstError ??= describe(error);
        };
        const send = (): void => {
          sentAt = now();
          messenger!.send(ping(seq)).catch(fail);
        };
        const subscription = messenger!.messages$.subscribe(({ header }) => {
          rtts.push(now() - sentAt);
          if (header['type'] !== 'pong' || Number(header['seq']) !== seq) fail(new Error(`pong ${header['seq']} for ping ${seq}`));
          if (++seq < count) return send();
          subscription.unsubscribe();
          resolve(firstError === undefined ? { rtts, errors } : { rtts, errors, firstError });
        });
        send();
      }),
    stop: () => client.stop(),
  };
}

export const implementation: Implementation = { listen, connect };
