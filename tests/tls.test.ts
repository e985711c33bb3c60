/**
 * TLS and mutual TLS between a Server and Clients over 127.0.0.1, with certificates made for the
 * run by `openssl` (tests/helpers/certificates.ts).
 */
import { TLSSocket, type ConnectionOptions } from 'node:tls';
import test from 'ava';
import { catchError, filter, firstValueFrom, map, of, switchMap, timeout } from 'rxjs';
import { ConnectFailedError, ErrorCode, HandshakeTimeoutError, InvalidOptionError } from '../lib/errors.js';
import { Client } from '../lib/hub/client.js';
import { Server, type ServerOptions } from '../lib/hub/server.js';
import type { Messenger } from '../lib/connection/messenger.js';
import { CloseReasonKind, type CloseReason } from '../lib/connection/close-reason.js';
import { makeCertificates, type Certificates } from './helpers/certificates.js';
import { WAIT_MS, link, next, rawConnect, serverSideOf, socketClosed, startClient, startServer, waitFor, within, type Link } from './helpers/loopback.js';

let certs: Certificates;

test.before(async () => {
  certs = await makeCertificates();
});

test.after.always(async () => {
  await certs?.remove();
});

const serverTls = (): ServerOptions['tls'] => ({ key: certs.server.key, cert: certs.server.cert });
const mutualTls = (): ServerOptions['tls'] => ({ ...serverTls(), ca: certs.ca, requestCert: true, rejectUnauthorized: true });
const trusting = (extra: ConnectionOptions = {}): ConnectionOptions => ({ ca: certs.ca, ...extra });

/** One message each way on a connection; resolves with what each side received. */
async function roundTrip(connection: Link, info: string): Promise<[unknown, unknown]> {
  const atServer = next(connection.server.messages$);
  await connection.client.send({ info });
  const up = (await atServer).header['info'];
  const atClient = next(connection.client.messages$);
  await connection.server.send({ info: `${info} back` }, Buffer.from('body'));
  const down = await atClient;
  return [up, `${down.header['info']}+${down.content.toString()}`];
}

/**
 * What becomes of a dial the server refuses after the handshake. Under TLS 1.3 the client's side of
 * the handshake is done before the server checks its certificate, so the dial succeeds and the
 * connection closes at once with the server's alert; under TLS 1.2 the dial itself fails.
 */
function refusal(client: Client, port: number): Promise<{ readonly dial: 'failed'; readonly error: unknown } | { readonly dial: 'closed'; readonly reason: CloseReason }> {
  return firstValueFrom(
    client.connect('127.0.0.1', port).pipe(
      switchMap((messenger: Messenger) => messenger.closed$.pipe(map((reason) => ({ dial: 'closed' as const, reason })))),
      catchError((error: unknown) => of({ dial: 'failed' as const, error })),
      timeout(WAIT_MS),
    ),
  );
}

test('a TLS server and a client that trusts its CA exchange messages both ways', async (t) => {
  const server = await startServer(t, { tls: serverTls() });
  const client = startClient(t, { tls: trusting() });
  const connection = await link(server, client);

  t.deepEqual(await roundTrip(connection, 'over tls'), ['over tls', 'over tls back+body']);
  t.true(connection.client.socket instanceof TLSSocket);
  t.true((connection.client.socket as TLSSocket).encrypted);
  t.true((connection.client.socket as TLSSocket).authorized);
  t.deepEqual(connection.client.addr, { host: '127.0.0.1', port: server.address.port });
});

test('mutual TLS accepts a client with a certificate from the trusted CA, and the server sees who it is', async (t) => {
  const server = await startServer(t, { tls: mutualTls() });
  const client = startClient(t, { tls: trusting(certs.client) });
  const connection = await link(server, client);

  t.deepEqual(await roundTrip(connection, 'mutual'), ['mutual', 'mutual back+body']);
  const serverSocket = connection.server.socket as TLSSocket;
  t.true(serverSocket.authorized);
  t.is(serverSocket.getPeerCertificate().subject.CN, 'client');
});

for (const [who, tls] of [
  ['without a certificate', (): ConnectionOptions => trusting()],
  ['with a certificate from a CA the server does not trust', (): ConnectionOptions => trusting(certs.stranger)],
] as const) {
  test(`a mutual-TLS server refuses a client ${who}, which never joins the hub, while other connections keep working`, async (t) => {
    const server = await startServer(t, { tls: mutualTls() });
    const good = await link(server, startClient(t, { tls: trusting(certs.client) }));
    const failure = next(server.handshakeFailures$);

    const refused = startClient(t, { tls: tls() });
    const outcome = await refusal(refused, server.address.port);
    if (outcome.dial === 'failed') t.true(outcome.error instanceof ConnectFailedError);
    else t.not(outcome.reason.reason, CloseReasonKind.Local);
    t.deepEqual(refused.messengers, []);
    const { error, authorizationError } = await failure;
    if (who === 'without a certificate') t.is((error as NodeJS.ErrnoException).code, 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
    else t.is(authorizationError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');

    t.deepEqual(server.messengers, [good.server]);
    t.deepEqual(await roundTrip(good, 'still here'), ['still here', 'still here back+body']);
  });
}

test("a client that does not trust the server's certificate gets ConnectFailedError with the TLS error as its cause", async (t) => {
  const server = await startServer(t, { tls: serverTls() });
  const failure = next(server.handshakeFailures$);
  const client = startClient(t, { tls: {} }); // the default CAs only

  const error = await t.throwsAsync(within(firstValueFrom(client.connect('127.0.0.1', server.address.port)), 'the dial to fail'), {
    instanceOf: ConnectFailedError,
  });
  t.is(error?.code, ErrorCode.ConnectFailed);
  t.is((error?.cause as NodeJS.ErrnoException | undefined)?.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  t.deepEqual(client.messengers, []);
  await failure;
  t.deepEqual(server.messengers, []);

  // The server goes on serving clients that trust it.
  const connection = await link(server, startClient(t, { tls: trusting() }));
  t.deepEqual(await roundTrip(connection, 'after'), ['after', 'after back+body']);
});

test('a dial can take its own TLS options, or none, whatever the client has', async (t) => {
  const secure = await startServer(t, { tls: serverTls() });
  const plain = await startServer(t);
  const client = startClient(t);

  const overTls = await next(client.connect('127.0.0.1', secure.address.port, { tls: trusting() }));
  t.true(overTls.socket instanceof TLSSocket);
  const tlsClient = startClient(t, { tls: trusting() });
  const overTcp = await next(tlsClient.connect('127.0.0.1', plain.address.port, { tls: false }));
  t.false(overTcp.socket instanceof TLSSocket);

  const atServer = next(plain.incoming$);
  await overTcp.send({ info: 'plain' });
  t.is((await atServer).header['info'], 'plain');
  t.truthy(await serverSideOf(secure, overTls.socket as TLSSocket));
});

test('a dialled connection uses TLS too, and comes back over TLS after a restart', async (t) => {
  const first = await startServer(t, { tls: mutualTls() });
  const { port } = first.address;
  const client = startClient(t, { tls: trusting(certs.client) });
  const connection = client.dial('127.0.0.1', port, { initialMs: 10, maxMs: 50 });
  t.teardown(() => connection.close());
  const isOpen = filter((s: { type: string }) => s.type === 'open');

  await next(connection.state$.pipe(isOpen));
  const atFirst = next(first.incoming$);
  await connection.send({ info: 'one' });
  t.is((await atFirst).header['info'], 'one');

  await first.stop();
  await next(connection.state$.pipe(filter((s) => s.type === 'retrying')));
  const second = await startServer(t, { tls: mutualTls(), port });
  await next(connection.state$.pipe(isOpen));
  const atSecond = next(second.incoming$);
  await connection.send({ info: 'two' });
  t.is((await atSecond).header['info'], 'two');
  t.true((connection.messenger?.socket as TLSSocket).encrypted);
});

test('stop() of a TLS server does not wait for a connection stuck in its handshake', async (t) => {
  const server = await startServer(t, { tls: serverTls() });
  const silent = await rawConnect(t, server.address.port); // TCP only: it never says hello
  const closed = new Promise<void>((resolve) => silent.once('close', () => resolve()));

  await within(server.stop(), 'the server to stop');
  await within(closed, 'the silent connection to be closed');
  t.false(server.server.listening);
});

test('a client that opens TCP and never finishes its TLS handshake is dropped after handshakeTimeoutMs, reported and counted', async (t) => {
  const server = await startServer(t, { tls: serverTls(), handshakeTimeoutMs: 100 });
  const failure = next(server.handshakeFailures$);
  const silent = await rawConnect(t, server.address.port);
  const port = silent.localPort;

  await within(socketClosed(silent), 'the silent connection to be dropped');
  const { error, address } = await failure;
  t.true(error instanceof HandshakeTimeoutError);
  t.is((error as HandshakeTimeoutError).code, ErrorCode.HandshakeTimeout);
  t.is(address?.port, port);
  t.like(server.stats(), { handshaking: 0, connections: 0, refusals: { 'handshake-timeout': 1, 'handshake-failed': 0, 'max-connections': 0 } });

  const connection = await link(server, startClient(t, { tls: trusting() }));
  t.deepEqual(await roundTrip(connection, 'after'), ['after', 'after back+body']);
});

test('TLS handshakes in flight count against maxConnections: one more TCP connection is refused at once', async (t) => {
  const server = await startServer(t, { tls: serverTls(), maxConnections: 1 });
  const failures: unknown[] = [];
  server.handshakeFailures$.subscribe((failure) => failures.push(failure));
  const silent = await rawConnect(t, server.address.port);
  await waitFor(() => server.stats().handshaking === 1, 'the handshake to be in flight');

  const extra = await rawConnect(t, server.address.port);
  await within(socketClosed(extra), 'the connection past the limit to be refused');
  t.like(server.stats(), { handshaking: 1, refusals: { 'max-connections': 1, 'handshake-failed': 0 } });
  t.deepEqual(failures, [], 'a refused connection is no failed handshake');

  silent.destroy();
  await waitFor(() => server.stats().handshaking === 0, 'the place to be freed');
  const connection = await link(server, startClient(t, { tls: trusting() }));
  t.deepEqual(await roundTrip(connection, 'in'), ['in', 'in back+body']);
});

test('a handshake that fails is counted as handshake-failed in the server stats', async (t) => {
  const server = await startServer(t, { tls: mutualTls() });
  const failure = next(server.handshakeFailures$);
  await refusal(startClient(t, { tls: trusting() }), server.address.port);
  await failure;
  t.like(server.stats(), { handshaking: 0, connections: 0, refusals: { 'handshake-failed': 1, 'handshake-timeout': 0 } });
});

test('unusable TLS options are refused when the hub is made, naming the option', (t) => {
  const garbage = Buffer.from('not a certificate');
  const serverError = t.throws(() => new Server({ tls: { key: garbage, cert: garbage } }), { instanceOf: InvalidOptionError });
  t.regex(serverError?.message ?? '', /^option tls: .* is not usable node:tls options/);
  t.throws(() => new Server({ tls: { ca: certs.ca } }), { instanceOf: InvalidOptionError, message: /key and a certificate/ });
  t.throws(() => new Server({ tls: serverTls(), handshakeTimeoutMs: 0 }), { instanceOf: InvalidOptionError, message: /handshakeTimeoutMs/ });
  t.throws(() => new Client({ tls: { cert: garbage, key: garbage } }), { instanceOf: InvalidOptionError, message: /^option tls:/ });
  const client = new Client();
  t.teardown(() => client.stop());
  t.throws(() => client.dial('127.0.0.1', 1, { tls: { cert: garbage, key: garbage } }), { instanceOf: InvalidOptionError });
});
