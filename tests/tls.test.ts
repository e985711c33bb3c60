/**
 * TLS and mutual TLS between a Server and Clients over 127.0.0.1, and between filer peers (and
 * their tracker), with certificates made for the run by `openssl` (tests/helpers/certificates.ts).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TLSSocket, type ConnectionOptions } from 'node:tls';
import avaTest, { type ExecutionContext } from 'ava';
import { catchError, filter, firstValueFrom, map, of, switchMap, timeout } from 'rxjs';
import { ConnectFailedError, ConnectionClosedError, ErrorCode, HandshakeTimeoutError, InvalidOptionError } from '../lib/errors.js';
import { Peer, type PeerConnection, type PeerEvent, type PeerOptions } from '../lib/filer/peer.js';
import { Tracker } from '../lib/filer/tracker.js';
import { Client } from '../lib/hub/client.js';
import { Server, type ServerOptions } from '../lib/hub/server.js';
import type { Messenger } from '../lib/connection/messenger.js';
import { CloseReasonKind, type CloseReason } from '../lib/connection/close-reason.js';
import { makeCertificates, type Certificates, type KeyPair } from './helpers/certificates.js';
import { find, gate, OPENSSL } from './helpers/programs.js';

import { WAIT_MS, link, next, rawConnect, serverSideOf, socketClosed, startClient, startServer, waitFor, within, type Link } from './helpers/loopback.js';
import { sha256File, tempDir, writePattern } from './helpers/transfer.js';

const test = gate(avaTest, find(OPENSSL));
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
  const server = await startServer(t, { tls: serverTls(), handshakeTimeoutMs: 1000 }); // long enough for a real handshake on a loaded machine
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

// Filer peers over mutual TLS. A peer listens and dials, and shows the same certificate either
// way, so its certificate is made for both server and client use (certs.peer, certs.peer2).

/** A peer's options for mutual TLS with `pair`: it asks dialling peers for a certificate of the CA, and shows `pair` when it dials. */
const peerTls = (pair: KeyPair): Partial<PeerOptions> => ({
  serverOptions: { tls: { key: pair.key, cert: pair.cert, ca: certs.ca, requestCert: true, rejectUnauthorized: true } },
  clientOptions: { tls: trusting({ key: pair.key, cert: pair.cert }) },
});

/** A peer on 127.0.0.1 with folders of its own under a temporary root; stopped in teardown. */
async function startPeer(t: ExecutionContext, id: string, options: Partial<PeerOptions> = {}): Promise<Peer & { share: string; downloads: string }> {
  const root = await tempDir(t, `rx-tcp-hub-tls-peer-${id}-`);
  const share = join(root, 'share');
  const downloads = join(root, 'downloads');
  await mkdir(share);
  const peer = await Peer.start({ id, host: '127.0.0.1', port: 0, checkAfterMs: 0, shareDir: share, downloadsDir: downloads, ...options });
  t.teardown(() => peer.stop());
  return Object.assign(peer, { share, downloads });
}

const at = (peer: Peer) => `127.0.0.1:${peer.address.port}`;

/** The peer's open connection of that direction once it is there (an accepted one joins a moment after the dial). */
async function connectionOf(peer: Peer, direction: PeerConnection['direction']): Promise<PeerConnection> {
  await waitFor(() => peer.connections.some((c) => c.direction === direction), `an ${direction} connection of ${peer.id}`);
  return peer.connections.find((c) => c.direction === direction)!;
}

/** Who the other end of a connection showed itself as: the CN of its verified certificate (throws for a plain socket). */
function otherEnd(connection: PeerConnection): string {
  const socket = connection.messenger.socket;
  if (!(socket instanceof TLSSocket)) throw new Error(`${connection.id} is not a TLS connection`);
  if (!socket.authorized) throw new Error(`${connection.id} is not authorized: ${String(socket.authorizationError)}`);
  return String(socket.getPeerCertificate().subject.CN);
}

/** The next chat text a peer hears, and on which connection. */
const heard = (peer: Peer) =>
  next(
    peer.events$.pipe(
      filter((e): e is Extract<PeerEvent, { type: 'message' }> => e.type === 'message'),
      map((e) => ({ on: e.connection.id, text: e.text })),
    ),
  );

/** What becomes of a peer's dial that the other side refuses: see `refusal`. */
async function peerRefusal(peer: Peer, ref: string): Promise<{ readonly dial: 'failed'; readonly error: unknown } | { readonly dial: 'closed'; readonly reason: CloseReason }> {
  let connection: PeerConnection;
  try {
    connection = await within(peer.connect(ref), 'the dial to be settled');
  } catch (error) {
    return { dial: 'failed', error };
  }
  return { dial: 'closed', reason: await next(connection.messenger.closed$) };
}

test('two peers with mutual TLS dial each other, each sees the other\'s certificate, and they chat and move files both ways', async (t) => {
  const alice = await startPeer(t, 'alice', peerTls(certs.peer));
  const bob = await startPeer(t, 'bob', peerTls(certs.peer2));

  const aliceOut = await alice.connect(at(bob));
  const bobIn = await connectionOf(bob, 'in');
  t.is(otherEnd(aliceOut), 'peer2', 'alice checked the certificate bob listens with');
  t.is(otherEnd(bobIn), 'peer', 'bob checked the certificate alice dials with');

  const atBob = heard(bob);
  await alice.send(at(bob), 'hello bob');
  t.deepEqual(await atBob, { on: 'in1', text: 'hello bob' });
  const atAlice = heard(alice);
  await bob.send(bobIn.id, 'hello alice');
  t.deepEqual(await atAlice, { on: 'out1', text: 'hello alice' });

  // Alice gets from bob on her connection; bob puts to alice on one he dials himself.
  const size = 100_000;
  await writePattern(join(bob.share, 'from-bob.bin'), size, 1);
  const root = await tempDir(t);
  await writePattern(join(root, 'bob-put.bin'), size, 2);
  const transfers = await Promise.all([alice.get(at(bob), 'from-bob.bin'), bob.put(at(alice), join(root, 'bob-put.bin'))]);
  const summaries = await within(Promise.all(transfers.map((transfer) => transfer.done)), 'the two transfers');
  t.true(summaries.every((s) => s.verified && s.size === size));
  t.is(await sha256File(join(alice.downloads, 'from-bob.bin')), await sha256File(join(bob.share, 'from-bob.bin')));
  t.is(await sha256File(join(alice.downloads, 'bob-put.bin')), await sha256File(join(root, 'bob-put.bin')));

  // Two connections, one dialled by each peer, every end over TLS and showing the expected certificate.
  const ends = (peer: Peer) => peer.connections.map((c) => [c.direction, otherEnd(c)]).sort();
  t.deepEqual(ends(alice), [['in', 'peer2'], ['out', 'peer2']]);
  t.deepEqual(ends(bob), [['in', 'peer'], ['out', 'peer']]);
});

// What bob's server reports: the TLS error of a dialler without a certificate, else why node
// refused the certificate it showed (it then hangs up, so the error is an ECONNRESET).
for (const [who, tls, refused] of [
  ['without a certificate', (): ConnectionOptions => trusting(), { code: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' }],
  ['with a certificate from a CA it does not trust', (): ConnectionOptions => trusting(certs.stranger), { authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }],
  ['with a certificate made for server use only', (): ConnectionOptions => trusting(certs.server), { authorizationError: 'INVALID_PURPOSE' }],
] as const) {
  test(`a mutual-TLS peer refuses a peer that dials it ${who}, which gets a typed error or a closed connection, while the trusted peer's link keeps working`, async (t) => {
    const alice = await startPeer(t, 'alice', peerTls(certs.peer));
    const bob = await startPeer(t, 'bob', peerTls(certs.peer2));
    const good = await alice.connect(at(bob));
    await connectionOf(bob, 'in');
    const failure = next(bob.server.handshakeFailures$);

    // Mallory trusts bob's CA, so only bob's side can refuse the connection.
    const mallory = await startPeer(t, 'mallory', { clientOptions: { tls: tls() } });
    const outcome = await peerRefusal(mallory, at(bob));
    if (outcome.dial === 'failed') t.true(outcome.error instanceof ConnectFailedError || outcome.error instanceof ConnectionClosedError, String(outcome.error));
    else t.not(outcome.reason.reason, CloseReasonKind.Local);
    await waitFor(() => mallory.connections.length === 0, 'mallory to hold no connection');
    const { error, authorizationError } = await failure;
    if ('code' in refused) {
      t.is((error as NodeJS.ErrnoException).code, refused.code);
      t.is(authorizationError, undefined, 'no certificate: nothing was refused, and no "null" either');
    } else t.is(authorizationError, refused.authorizationError);
    t.like(bob.server.stats(), { handshaking: 0, refusals: { 'handshake-failed': 1 } });

    t.deepEqual(
      bob.connections.map((c) => [c.direction, otherEnd(c)]),
      [['in', 'peer']],
    );
    t.is(otherEnd(good), 'peer2');
    const atBob = heard(bob);
    await alice.send(good.id, 'still here');
    t.deepEqual(await atBob, { on: 'in1', text: 'still here' });
    const atAlice = heard(alice);
    await bob.broadcast('and so am I');
    t.deepEqual(await atAlice, { on: good.id, text: 'and so am I' });
  });
}

test('peers report to a mutual-TLS tracker, see each other in their address books, and reach each other by name over TLS', async (t) => {
  const tracker = await Tracker.listen({ host: '127.0.0.1', port: 0, intervalMs: 50, tls: mutualTls() });
  t.teardown(() => tracker.stop());
  const address = { host: '127.0.0.1', port: tracker.server!.address.port };
  const alice = await startPeer(t, 'alice', { ...peerTls(certs.peer), tracker: address, reportIntervalMs: 50 });
  const bob = await startPeer(t, 'bob', { ...peerTls(certs.peer2), tracker: address, reportIntervalMs: 50 });

  const listed = (peer: Peer, id: string) => within(firstValueFrom(peer.addressBook$.pipe(filter((book) => book.some((e) => e.id === id)))), `${id} in ${peer.id}'s book`);
  await Promise.all([listed(alice, 'bob'), listed(bob, 'alice')]);
  for (const peer of [alice, bob]) {
    const socket = peer.tracker!.messenger!.socket;
    t.true(socket instanceof TLSSocket && socket.authorized, `${peer.id} reports over TLS`);
    t.is((socket as TLSSocket).getPeerCertificate().subject.CN, 'localhost');
  }
  t.deepEqual(tracker.server!.messengers.map((m) => (m.socket as TLSSocket).getPeerCertificate().subject.CN).sort(), ['peer', 'peer2']);

  const toBob = await alice.connect('bob');
  t.is(toBob.peer, 'bob');
  t.is(otherEnd(toBob), 'peer2');
  const atBob = heard(bob);
  await alice.send('bob', 'found you');
  t.deepEqual(await atBob, { on: 'in1', text: 'found you' });
  t.is(otherEnd(await connectionOf(bob, 'in')), 'peer');
});
