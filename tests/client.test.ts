/** The Client over real loopback sockets, dialling a Server on 127.0.0.1 port 0. */
import { createServer, type Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import test from 'ava';
import { firstValueFrom, retry, toArray } from 'rxjs';
import type { Client, DialEvent } from '../lib/hub/client.js';
import { ConnectFailedError, ErrorCode, HubStoppedError, TooManyConnectionsError } from '../lib/errors.js';
import { closedPort, link, next, serverSideOf, startClient, startServer, within } from './helpers/loopback.js';

/** Every dial event of the client, as it happens. */
function recordDials(client: Client): DialEvent[] {
  const events: DialEvent[] = [];
  client.dials$.subscribe((e) => events.push(e));
  return events;
}

test('connect emits a Messenger that is already in messengers, addressed to the server', async (t) => {
  const server = await startServer(t);
  const client = startClient(t);
  const messenger = await next(client.connect('127.0.0.1', server.address.port));
  t.deepEqual(client.messengers, [messenger]);
  t.deepEqual(messenger.addr, { host: '127.0.0.1', port: server.address.port });
  t.false(messenger.closed);

  const peer = await serverSideOf(server, messenger.socket as Socket);
  const received = next(peer.messages$);
  await messenger.send({ info: 'hello' });
  t.is((await received).header['info'], 'hello');
});

test('dials$ reports each connection made, with its Messenger', async (t) => {
  const server = await startServer(t);
  const client = startClient(t);
  const dials = recordDials(client);
  const first = await next(client.connect('127.0.0.1', server.address.port));
  const second = await next(client.connect('127.0.0.1', server.address.port));
  t.deepEqual(dials, [
    { type: 'connected', host: '127.0.0.1', port: server.address.port, messenger: first },
    { type: 'connected', host: '127.0.0.1', port: server.address.port, messenger: second },
  ]);
  t.deepEqual(client.messengers, [first, second]);
  t.not(first.id, second.id);
});

test('connect to a port where nothing listens errors with ConnectFailedError, and dials$ reports it failed', async (t) => {
  const client = startClient(t);
  const dials = recordDials(client);
  const port = await closedPort();

  const error = await t.throwsAsync(within(firstValueFrom(client.connect('127.0.0.1', port)), 'the dial to fail'), {
    instanceOf: ConnectFailedError,
  });
  t.is(error?.code, ErrorCode.ConnectFailed);
  t.is(error?.code, 'ERR_CONNECT_FAILED');
  t.is(error?.host, '127.0.0.1');
  t.is(error?.port, port);
  t.is((error?.cause as NodeJS.ErrnoException | undefined)?.code, 'ECONNREFUSED');
  t.deepEqual(dials, [{ type: 'failed', host: '127.0.0.1', port, error: error! }]);
  t.deepEqual(client.messengers, []);
});

test('connect is lazy: nothing is dialled until subscribed, and retry() dials again', async (t) => {
  const client = startClient(t);
  const dials = recordDials(client);
  const port = await closedPort();

  const dial$ = client.connect('127.0.0.1', port);
  // Let the event loop run a dial of its own: the unsubscribed one has still not happened.
  await t.throwsAsync(within(firstValueFrom(client.connect('127.0.0.1', port)), 'a dial'));
  t.is(dials.length, 1);

  await t.throwsAsync(within(firstValueFrom(dial$.pipe(retry(2))), 'the retried dial'), { instanceOf: ConnectFailedError });
  t.deepEqual(
    dials.map((d) => d.type),
    ['failed', 'failed', 'failed', 'failed'],
  );
});

test('unsubscribing before the connection is made abandons the dial', async (t) => {
  const server = await startServer(t);
  const client = startClient(t);
  const dials = recordDials(client);

  const abandoned = client.connect('127.0.0.1', server.address.port).subscribe();
  abandoned.unsubscribe();
  // A dial made afterwards is the only one the server ever sees.
  const { client: kept, server: accepted } = await link(server, client);
  t.deepEqual(client.messengers, [kept]);
  t.deepEqual(server.messengers, [accepted]);
  t.deepEqual(
    dials.map((d) => d.type),
    ['connected'],
  );
});

test('stop abandons pending dials, which fail, and completes dials$', async (t) => {
  const server = await startServer(t);
  const client = startClient(t);
  const dialsDone = within(next(client.dials$.pipe(toArray())), 'dials$ to complete');

  const pending = firstValueFrom(client.connect('127.0.0.1', server.address.port));
  pending.catch(() => {}); // asserted below
  await within(client.stop(), 'stop');

  const error = await t.throwsAsync(within(pending, 'the abandoned dial to settle'), { instanceOf: ConnectFailedError });
  t.true(error?.cause instanceof HubStoppedError);
  // The failure is reported before dials$ completes.
  t.deepEqual(await dialsDone, [{ type: 'failed', host: '127.0.0.1', port: server.address.port, error: error! }]);
  t.deepEqual(client.messengers, []);
  await t.throwsAsync(firstValueFrom(client.connect('127.0.0.1', server.address.port)), { instanceOf: HubStoppedError });
  // The server never saw the abandoned dial: a later connection is the only one it has.
  const later = await link(server, startClient(t));
  t.deepEqual(server.messengers, [later.server]);
});

// A connection closed just before stop(), still flushing to a peer that does not read, must not
// outlive stop(): the hub waits for every socket it adopted, live or lingering.
test('stop waits for a connection that is still flushing after its close', async (t) => {
  const stalledPeer = createServer({ pauseOnConnect: true }, (socket) => {
    socket.on('error', () => {});
    t.teardown(() => {
      socket.destroy();
    });
  });
  t.teardown(() => {
    stalledPeer.close();
  });
  await new Promise<void>((resolve) => stalledPeer.listen(0, '127.0.0.1', resolve));
  const client = startClient(t, { lingerMs: 1000, maxQueueBytes: 256 * 1024 });
  const messenger = await next(client.connect('127.0.0.1', (stalledPeer.address() as { port: number }).port));

  // Fill the kernel buffers and the queue, so that the close has frames left to flush.
  const content = Buffer.alloc(16 * 1024);
  for (let seq = 0; seq < 100_000 && messenger.queuedBytes < 64 * 1024; seq++) {
    messenger.send({ seq }, content).catch(() => {});
    await nextTurn();
  }
  messenger.close();
  t.false(messenger.socket.destroyed, 'the socket lingers to flush');

  await within(client.stop(), 'stop');
  t.true(messenger.socket.destroyed, 'stop resolved only once the socket was closed');
});

test('connect fails with TooManyConnectionsError, without dialling, when the client already holds maxConnections', async (t) => {
  const server = await startServer(t);
  const client = startClient(t, { maxConnections: 1 });
  const dials = recordDials(client);
  const first = await next(client.connect('127.0.0.1', server.address.port));

  const error = await t.throwsAsync(firstValueFrom(client.connect('127.0.0.1', server.address.port)), { instanceOf: TooManyConnectionsError });
  t.is(error?.code, ErrorCode.TooManyConnections);
  t.deepEqual(dials.map((d) => d.type), ['connected'], 'no second dial');
  t.deepEqual(client.messengers, [first]);

  first.close();
  await within(firstValueFrom(first.closed$), 'the first connection to close');
  const again = await next(client.connect('127.0.0.1', server.address.port));
  t.deepEqual(client.messengers, [again]);
});
