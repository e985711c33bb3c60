/**
 * Real sockets on 127.0.0.1 for the integration tests: every server, client and raw socket made
 * here is closed in the test's teardown, and every wait is bounded in time.
 */
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext } from 'ava';
import { filter, firstValueFrom, map, timeout, type Observable } from 'rxjs';
import { Client, type ClientOptions } from '../../lib/hub/client.js';
import { Server, type ServerOptions } from '../../lib/hub/server.js';
import type { Messenger } from '../../lib/connection/messenger.js';

/** The longest any single wait in these tests may take before it fails the test. */
export const WAIT_MS = 10_000;

/** Starts a server on 127.0.0.1, port 0; stopped in teardown. */
export async function startServer(t: ExecutionContext, options: ServerOptions = {}): Promise<Server> {
  const server = await Server.listen({ host: '127.0.0.1', port: 0, ...options });
  t.teardown(() => server.stop());
  return server;
}

/** A client hub, stopped in teardown. */
export function startClient(t: ExecutionContext, options: ClientOptions = {}): Client {
  const client = new Client(options);
  t.teardown(() => client.stop());
  return client;
}

/** Both ends of one loopback connection: the client's Messenger and the server's. */
export interface Link {
  readonly client: Messenger;
  readonly server: Messenger;
}

/** Dials the server from the client and waits until the server has adopted the connection too. */
export async function link(server: Server, client: Client): Promise<Link> {
  const clientSide = await next(client.connect('127.0.0.1', server.address.port));
  // connections$ replays an open event for every live connection, so which side sees the
  // connection first does not matter.
  const serverSide = await serverSideOf(server, clientSide.socket as Socket);
  return { client: clientSide, server: serverSide };
}

/** A plain `net` socket connected to the port: it writes whatever bytes a test wants. Destroyed in teardown. */
export async function rawConnect(t: ExecutionContext, port: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port });
  t.teardown(() => {
    socket.destroy();
  });
  socket.on('error', () => {}); // a reset by the server is expected in several tests
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/**
 * A raw socket connected to the server (destroyed in teardown) and the server's Messenger for it.
 * A `stalled` socket is paused before the server adopts it: it reads nothing, so once the kernel
 * buffers are full the server's sends queue up.
 */
export async function rawPeer(t: ExecutionContext, server: Server, { stalled = false } = {}): Promise<{ raw: Socket; peer: Messenger }> {
  const raw = await rawConnect(t, server.address.port);
  if (stalled) raw.pause();
  return { raw, peer: await serverSideOf(server, raw) };
}

/** A port on 127.0.0.1 where nothing listens: bound, then released. */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Resolves once the socket has closed, whichever side closed it. */
export function socketClosed(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** The first value of a stream, failing after `WAIT_MS`. */
export function next<T>(source: Observable<T>, ms = WAIT_MS): Promise<T> {
  return firstValueFrom(source.pipe(timeout(ms)));
}

/** Resolves with the promise's value, or rejects with a clear error after `ms`. */
export async function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  const ac = new AbortController();
  try {
    return await Promise.race([
      promise,
      sleep(ms, undefined, { signal: ac.signal }).then(() => {
        throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      }),
    ]);
  } finally {
    ac.abort();
  }
}

/**
 * Polls a condition until it holds, every `intervalMs`, at most `ms` in all: for states that no
 * event announces. Rejects, naming what it waited for, when time runs out.
 */
export async function waitFor(condition: () => boolean, what: string, ms = WAIT_MS, intervalMs = 5): Promise<void> {
  const tries = Math.ceil(ms / intervalMs);
  for (let i = 0; i < tries; i++) {
    if (condition()) return;
    await sleep(intervalMs);
  }
  if (!condition()) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** A frame from raw header text (or bytes), bypassing the encoder's checks. */
export function rawFrame(header: string | Buffer, content: Buffer = Buffer.alloc(0)): Buffer {
  const text = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16LE(text.length, 0);
  return Buffer.concat([prefix, text, content]);
}

/** Writes bytes on a raw socket and resolves when they are handed to the kernel. */
export function writeRaw(socket: Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve())));
}

/** The server's Messenger for a socket connected to it (matched by the socket's local port). */
export function serverSideOf(server: Server, socket: Socket): Promise<Messenger> {
  const port = socket.localPort;
  return next(
    server.connections$.pipe(
      filter((event) => event.type === 'open' && event.messenger.addr.port === port),
      map((event) => event.messenger),
    ),
  );
}
