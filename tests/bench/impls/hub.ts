/**
 * rx-tcp-hub, written as a user would: `Server.listen`, `client.connect`, `incoming$` and
 * `messages$` subscriptions, `messenger.send` and `server.broadcast`. Senders keep a window of
 * send promises in flight (see `send-window.ts`). The library is the one the runner compiled from
 * `lib/` at its start (see `build.ts`), or `lib/` itself with `--from-source`: changes to `lib/`
 * show up in the next run either way.
 */
import { EMPTY, catchError, lastValueFrom, mergeMap, range, toArray } from 'rxjs';
import type { Messenger, SendOutcome } from '../../../lib/index.js';
import { LIB_ENV } from '../build.js';

const { Client, Server } = (await import(process.env[LIB_ENV] ?? '../../../lib/index.js')) as typeof import('../../../lib/index.js');
import { HEADER_FRAME_BYTES, chat, news, now, ping, pong } from '../shared/messages.js';
import { SendWindow, windowFor } from '../shared/send-window.js';
import { DIAL_CONCURRENCY, describe, type BenchClient, type BenchServer, type ClientSetup, type Implementation, type PingPongResult, type ServerSetup } from './types.js';

async function listen(setup: ServerSetup): Promise<BenchServer> {
  const server = await Server.listen({ host: '127.0.0.1', port: 0 });
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
    whenConnections: async (count) => {
      await new Promise<void>((resolve) => {
        const subscription = server.connections$.subscribe((event) => {
          if (event.alive >= count) {
            resolve();
            queueMicrotask(() => subscription.unsubscribe());
          }
        });
      });
    },
    broadcast: async (count) => {
      // The window counts broadcasts: each puts one frame on every connection, as (a)'s buffer per socket.
      const window = new SendWindow(windowFor(HEADER_FRAME_BYTES));
      let failed = 0;
      let firstError: string | undefined;
      const tally = (outcomes: SendOutcome<Messenger>[]): void => {
        for (const outcome of outcomes) {
          if (!outcome.ok) {
            failed++;
            firstError ??= describe(outcome.error);
          }
        }
      };
      for (let seq = 0; seq < count; seq++) {
        if (window.full) await window.empty();
        window.track(server.broadcast(news(seq)).then(tally));
      }
      await window.empty();
      const errors = failed + window.errors;
      firstError ??= window.firstError === undefined ? undefined : describe(window.firstError);
      return firstError === undefined ? { errors } : { errors, firstError };
    },
    stop: () => server.stop(),
  };
}

async function connect(setup: ClientSetup): Promise<BenchClient> {
  const client = new Client();
  let failed = 0;
  let firstError: string | undefined;
  const messengers = await lastValueFrom(
    range(0, setup.connections).pipe(
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
  if (setup.mode === 'broadcast') {
    for (const messenger of messengers) {
      const check = setup.check();
      messenger.messages$.subscribe(({ header, content }) => check(header, content));
    }
  }
  const messenger: Messenger | undefined = messengers[0];
  return {
    connect: { opened: messengers.length, failed, ...(firstError ? { firstError } : {}) },
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
