/**
 * Reference (b): `ws`, each seed frame carried whole as one binary message (prefix, header text
 * and content: the same bytes as on the other wires). Compression is off. Senders keep a window
 * of `send` callbacks in flight, as `ws` reports backpressure through them.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { HEADER_FRAME_BYTES, chat, news, now, ping, pong } from '../shared/messages.js';
import { SendWindow, windowFor } from '../shared/send-window.js';
import { encodeHead, parseFrame } from '../shared/seed.js';
import type { Check } from '../shared/tally.js';
import { Counter, DIAL_CONCURRENCY, describe, openMany, type BenchClient, type BenchServer, type ClientSetup, type Implementation, type PingPongResult, type ServerSetup } from './types.js';

/** Decodes each message as one seed frame and hands it to `check`; a frame that does not parse counts as wrong. */
function checked(check: Check): (data: RawData) => void {
  return (data) => {
    const { header, content } = parseFrame(data as Buffer);
    check(header, content);
  };
}

async function listen(setup: ServerSetup): Promise<BenchServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  const open = new Counter();
  wss.on('connection', (ws) => {
    open.add(1);
    ws.on('close', () => open.add(-1));
    ws.on('error', () => {});
    if (setup.mode === 'throughput') {
      ws.on('message', checked(setup.check()));
    } else if (setup.mode === 'ping-pong') {
      ws.on('message', (data) => ws.send(encodeHead(pong(parseFrame(data as Buffer).header['seq']!), 0)));
    }
  });
  await once(wss, 'listening');
  return {
    port: (wss.address() as AddressInfo).port,
    whenConnections: (count) => open.reach(count),
    broadcast: async (count) => {
      const clients = [...wss.clients];
      // The window counts broadcasts: each puts one frame on every connection, as (a)'s buffer per socket.
      const window = new SendWindow(windowFor(HEADER_FRAME_BYTES));
      for (let seq = 0; seq < count; seq++) {
        if (window.full) await window.empty();
        const frame = encodeHead(news(seq), 0);
        // One window slot per broadcast, settled when every copy is written.
        let left = clients.length;
        let failure: Error | undefined;
        const sent = (error?: Error): void => {
          failure ??= error;
          if (--left === 0) window.settle(failure);
        };
        window.open();
        for (const ws of clients) ws.send(frame, sent);
      }
      await window.empty();
      return window.firstError === undefined ? { errors: window.errors } : { errors: window.errors, firstError: describe(window.firstError) };
    },
    stop: async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}

async function connect(setup: ClientSetup): Promise<BenchClient> {
  const url = `ws://127.0.0.1:${setup.port}`;
  const dial = async (): Promise<WebSocket> => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await once(ws, 'open');
    ws.on('error', () => {});
    return ws;
  };
  const dialled = await openMany(setup.connections, DIAL_CONCURRENCY, dial);
  const sockets = dialled.opened;
  if (setup.mode === 'broadcast') for (const ws of sockets) ws.on('message', checked(setup.check()));
  const ws = sockets[0];
  return {
    connect: { opened: sockets.length, failed: dialled.failed, ...(dialled.firstError ? { firstError: dialled.firstError } : {}) },
    send: async (count, content) => {
      const window = new SendWindow(windowFor(HEADER_FRAME_BYTES + content.length));
      for (let seq = 0; seq < count; seq++) {
        if (window.full) await window.empty();
        const head = encodeHead(chat(seq), content.length);
        window.open();
        ws!.send(content.length === 0 ? head : Buffer.concat([head, content]), window.settle);
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
        const send = (): void => {
          sentAt = now();
          ws!.send(encodeHead(ping(seq), 0));
        };
        const onMessage = (data: RawData): void => {
          rtts.push(now() - sentAt);
          const { header } = parseFrame(data as Buffer);
          if (header['type'] !== 'pong' || Number(header['seq']) !== seq) {
            errors++;
            firstError ??= `pong ${header['seq']} for ping ${seq}`;
          }
          if (++seq < count) return send();
          ws!.off('message', onMessage);
          resolve(firstError === undefined ? { rtts, errors } : { rtts, errors, firstError });
        };
        ws!.on('message', onMessage);
        send();
      }),
    stop: async () => {
      for (const socket of sockets) socket.terminate();
    },
  };
}

export const implementation: Implementation = { listen, connect };
