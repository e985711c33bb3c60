/**
 * What the engine refuses, with which typed error, and that a refusal or a bad peer never leaves a
 * file under a final name or outside the folders: traversal names, links pointing outside, size
 * limits, names already taken, a corrupted chunk, and garbage transfer messages.
 */
import { readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { filter, firstValueFrom, take, timeout, toArray } from 'rxjs';
import type { Messenger } from '../lib/connection/messenger.js';
import { ErrorCode, TransferError, UnsafeNameError } from '../lib/errors.js';
import type { TransferConnection } from '../lib/filer/transfer/link.js';
import { skipTransferMessages } from '../lib/filer/transfer/operators.js';
import { checkName } from '../lib/filer/transfer/safe-path.js';
import type { TransferEvent } from '../lib/filer/transfer/events.js';
import { encodeTransferMessage, type TransferMessage } from '../lib/filer/transfer/vocabulary.js';
import type { HeaderInput, Message } from '../lib/protocol/message.js';
import { bounded, connect, makePair, makePeer, namesIn, nextEvent, tempDir, WAIT_MS, writePattern } from './helpers/transfer.js';

const TRAVERSAL = ['../x', '/etc/passwd', 'a/../../x', '..', '.', '', 'a\\..\\x', 'C:\\x', '.hidden', 'bad\nname'];

/** The typed error a transfer ended with. */
async function failure(done: Promise<unknown>): Promise<TransferError> {
  const error = await bounded(done.then(() => undefined, (e: unknown) => e), 'the transfer to fail');
  if (!(error instanceof TransferError)) throw new Error(`expected a TransferError, got ${String(error)}`);
  return error;
}

/** A peer with an engine (bob) and a bare connection to it that a test drives by hand. */
async function bareToBob(t: ExecutionContext, options = {}) {
  const root = await tempDir(t);
  const bob = await makePeer(t, root, 'bob', options);
  const [raw, b] = connect(t);
  bob.engine.attach(b);
  const send = (header: HeaderInput, content?: Buffer | string) =>
    raw.send(header, typeof content === 'string' ? Buffer.from(content) : content);
  const sendMessage = (message: TransferMessage) => {
    const { header, content } = encodeTransferMessage(message);
    return raw.send(header, content);
  };
  const replies = (n: number): Promise<Message[]> =>
    firstValueFrom(raw.messages$.pipe(filter((m) => m.header['ft'] !== undefined), take(n), toArray(), timeout(WAIT_MS)));
  return { root, bob, raw, b, send, sendMessage, replies };
}

test('checkName accepts plain names and refuses every name that could leave the folder', (t) => {
  t.is(checkName('report.pdf'), 'report.pdf');
  t.is(checkName('notes 2024: draft; v2.txt'), 'notes 2024: draft; v2.txt');
  for (const name of TRAVERSAL) {
    const error = t.throws(() => checkName(name), { instanceOf: UnsafeNameError }, JSON.stringify(name));
    t.is(error?.code, ErrorCode.TransferNameInvalid);
  }
  t.throws(() => checkName('x'.repeat(250)), { code: ErrorCode.TransferNameInvalid });
});

test('get and put refuse traversal names before anything is sent', async (t) => {
  const { alice, bob, a, root } = await makePair(t);
  const seenByBob: TransferEvent[] = [];
  bob.engine.events$.subscribe((event) => seenByBob.push(event));
  await writeFile(join(root, 'local.txt'), 'x');

  for (const name of TRAVERSAL) {
    const got = await failure(alice.engine.get(a, name).done);
    t.true(got instanceof UnsafeNameError, `get ${JSON.stringify(name)}`);
    t.false(got.remote);
    const asName = await failure(alice.engine.get(a, 'ok.txt', name).done);
    t.is(asName.code, ErrorCode.TransferNameInvalid, `get ok.txt as ${JSON.stringify(name)}`);
    const put = await failure(alice.engine.put(a, join(root, 'local.txt'), name).done);
    t.is(put.code, ErrorCode.TransferNameInvalid, `put as ${JSON.stringify(name)}`);
  }
  t.deepEqual(seenByBob, [], 'the peer heard of none of them');
  t.deepEqual(await namesIn(alice.downloads), []);
});

test('a peer refuses traversal names in get and put that come over the wire, and writes nothing', async (t) => {
  const { root, bob, sendMessage, replies } = await bareToBob(t);
  await writeFile(join(root, 'x'), 'outside');

  const answers = replies(TRAVERSAL.length * 2);
  for (const [i, name] of TRAVERSAL.entries()) {
    await sendMessage({ op: 'get', id: `g${i}`, name, have: 0, window: 8, chunk: 65536 });
    await sendMessage({ op: 'put', id: `p${i}`, name, size: 10 });
  }

  const got = await answers;
  t.true(got.every((m) => m.header['ft'] === 'error' && m.header['code'] === ErrorCode.TransferNameInvalid));
  t.deepEqual(got.map((m) => m.header['id']).sort(), TRAVERSAL.flatMap((_, i) => [`g${i}`, `p${i}`]).sort());
  t.regex(JSON.parse(got[0]!.content.toString()).message, /refused file name/);
  t.deepEqual(await namesIn(bob.downloads), []);
  t.is(await readFile(join(root, 'x'), 'utf8'), 'outside');
  const refused = bob.engine.transfers.filter((s) => s.state === 'failed');
  t.is(refused.length, TRAVERSAL.length * 2, 'each refusal is listed as a failed transfer');
});

test('a link in the shared folder that points outside it is refused, and a link inside is served', async (t) => {
  const { alice, bob, a, root } = await makePair(t);
  await writeFile(join(root, 'secret.txt'), 'secret');
  await symlink(join(root, 'secret.txt'), join(bob.share, 'escape'));
  await writeFile(join(bob.share, 'real.txt'), 'shared');
  await symlink(join(bob.share, 'real.txt'), join(bob.share, 'alias'));

  const error = await failure(alice.engine.get(a, 'escape').done);
  t.is(error.code, ErrorCode.TransferNameInvalid);
  t.true(error.remote);
  t.regex(error.message, /points outside the shared folder/);

  await bounded(alice.engine.get(a, 'alias').done, 'the get of a link inside');
  t.is(await readFile(join(alice.downloads, 'alias'), 'utf8'), 'shared');
  t.deepEqual(await namesIn(alice.downloads), ['alias']);
});

test('a part file that is a link pointing outside the downloads folder is refused, not written through', async (t) => {
  const { alice, bob, a, root } = await makePair(t);
  await writeFile(join(root, 'victim.txt'), 'untouched');
  await symlink(join(root, 'victim.txt'), join(bob.downloads, '.evil.part'));
  await writeFile(join(root, 'evil'), 'payload');

  const error = await failure(alice.engine.put(a, join(root, 'evil')).done);

  t.is(error.code, ErrorCode.TransferNameInvalid);
  t.is(await readFile(join(root, 'victim.txt'), 'utf8'), 'untouched');
});

test('files over the size limit are refused by the sender, and by the receiver', async (t) => {
  const small = { maxFileBytes: 1000 };
  // Bob (the sender) has the limit.
  const one = await makePair(t, {}, small);
  await writePattern(join(one.bob.share, 'big.bin'), 2000);
  const bySender = await failure(one.alice.engine.get(one.a, 'big.bin').done);
  t.is(bySender.code, ErrorCode.TransferTooLarge);
  t.true(bySender.remote);

  // Alice (the receiver) has the limit: she refuses when the start announces the size.
  const two = await makePair(t, small, {});
  await writePattern(join(two.bob.share, 'big.bin'), 2000);
  const bobFailed = nextEvent(two.bob.engine.events$, 'failed');
  const byReceiver = await failure(two.alice.engine.get(two.a, 'big.bin').done);
  t.is(byReceiver.code, ErrorCode.TransferTooLarge);
  t.false(byReceiver.remote);
  t.is((await bobFailed).error.code, ErrorCode.TransferTooLarge);
  t.deepEqual(await namesIn(two.alice.downloads), [], 'the empty part file is removed');

  // A put to a receiver with the limit is refused at the offer.
  await writePattern(join(two.root, 'up.bin'), 2000);
  const put = await failure(two.bob.engine.put(two.b, join(two.root, 'up.bin')).done);
  t.is(put.code, ErrorCode.TransferTooLarge);
  t.true(put.remote);
  // And the sender's own limit stops a put before it is offered.
  const own = await failure(two.alice.engine.put(two.a, join(two.root, 'up.bin')).done);
  t.is(own.code, ErrorCode.TransferTooLarge);
  t.false(own.remote);
});

test('a name that is missing, or already in the downloads folder, is refused with its own code', async (t) => {
  const { alice, bob, a } = await makePair(t);
  const missing = await failure(alice.engine.get(a, 'nope.txt').done);
  t.is(missing.code, ErrorCode.TransferNotFound);
  t.true(missing.remote);

  await writeFile(join(bob.share, 'x.txt'), 'new');
  await writeFile(join(alice.downloads, 'x.txt'), 'old');
  const taken = await failure(alice.engine.get(a, 'x.txt').done);
  t.is(taken.code, ErrorCode.TransferExists);
  t.is(await readFile(join(alice.downloads, 'x.txt'), 'utf8'), 'old');
});

test('a second transfer into a name that is being received is refused as busy, and the first goes on', async (t) => {
  const { alice, bob, a } = await makePair(t, { chunkBytes: 64 * 1024 });
  await writePattern(join(bob.share, 'f.bin'), 4_000_000);

  const first = alice.engine.get(a, 'f.bin');
  await nextEvent(alice.engine.events$, 'started');
  const second = alice.engine.get(a, 'f.bin');

  t.is((await failure(second.done)).code, ErrorCode.TransferBusy);
  await bounded(first.done, 'the first get');
  t.deepEqual(await namesIn(alice.downloads), ['f.bin']);
});

test('a corrupted chunk is detected by the checksum on both sides and nothing is published', async (t) => {
  const root = await tempDir(t);
  const alice = await makePeer(t, root, 'alice', { chunkBytes: 64 * 1024 });
  const bob = await makePeer(t, root, 'bob', { chunkBytes: 64 * 1024 });
  const [a, b] = connect(t);
  alice.engine.attach(a);
  bob.engine.attach(flipping(b, 3 * 64 * 1024));
  await writePattern(join(bob.share, 'f.bin'), 1_000_000);
  const bobFailed = nextEvent(bob.engine.events$, 'failed');

  const error = await failure(alice.engine.get(a, 'f.bin').done);

  t.is(error.code, ErrorCode.TransferChecksum);
  t.false(error.remote);
  t.regex(error.message, /SHA-256 mismatch/);
  const senderError = (await bobFailed).error;
  t.is(senderError.code, ErrorCode.TransferChecksum);
  t.true(senderError.remote);
  t.deepEqual(await namesIn(alice.downloads), [], 'no final file, and the bad part file is removed');
});

test('garbage transfer messages get an error answer, never crash the engine, and chat is untouched', async (t) => {
  const { bob, b, send, sendMessage, replies, raw } = await bareToBob(t);
  await writeFile(join(bob.share, 'ok.txt'), 'fine');
  // A chat layer on the same connection, beside the engine.
  const chatAtBob: string[] = [];
  b.messages$.pipe(skipTransferMessages()).subscribe(({ header }) => chatAtBob.push(header['info'] ?? '?'));
  const garbage: Array<[HeaderInput, string?]> = [
    [{ ft: 'bogus', id: 'z1' }],
    [{ ft: 'ls' }],
    [{ ft: 'get', id: 'z2', have: 0, window: 8, chunk: 1 }, 'not json'],
    [{ ft: 'get', id: 'z3', have: 0, window: 8, chunk: 1 }, '{"nom":"x"}'],
    [{ ft: 'get', id: 'z4', have: 5, window: 8, chunk: 1 }, '{"name":"ok.txt"}'],
    [{ ft: 'put', id: 'z5', size: -1 }, '{"name":"x"}'],
    [{ ft: 'chunk', id: 'z6', offset: 0 }, 'data for nobody'],
    [{ ft: 'ack', id: 'z7', offset: 'x' }],
    [{ ft: 'end', id: 'z8', size: 1, sha256: 'abc' }],
    [{ ft: 'start', id: 'z9', size: 1, offset: 0 }],
    [{ ft: '', id: 'z10' }],
    [{ ft: 'ls', id: 'bad id with spaces' }],
  ];
  const answers = replies(garbage.length);
  for (const [header, content] of garbage) await send(header, content);
  // Errors are never answered, even garbage ones: no ping-pong between two engines.
  await send({ ft: 'error', id: 'z11', code: 'nonsense' });
  await send({ ft: 'error', id: 'z12', code: 'ERR_TRANSFER_IO' }, '{"message":"whatever"}');
  await raw.send({ info: 'hello bob' });

  const got = await answers;
  t.true(got.every((m) => m.header['ft'] === 'error' && m.header['code'] === ErrorCode.TransferProtocol), JSON.stringify(got.map((m) => m.header)));
  t.false(raw.closed);
  // The engine still serves.
  const listing = replies(1);
  await sendMessage({ op: 'ls', id: 'ok1' });
  const [result] = await listing;
  t.is(result!.header['ft'], 'ls-result');
  t.deepEqual(JSON.parse(result!.content.toString()), [{ name: 'ok.txt', size: 4 }]);
  t.deepEqual(chatAtBob, ['hello bob']);
});

test('a peer that breaks the vocabulary mid-transfer fails that transfer on both sides and nothing is published', async (t) => {
  const { alice, bob, a, b } = await makePair(t, { chunkBytes: 64 * 1024 });
  await writePattern(join(bob.share, 'f.bin'), 4_000_000);
  const getId = firstValueFrom(b.messages$.pipe(filter((m) => m.header['ft'] === 'get'), timeout(WAIT_MS)));
  const bobFailed = nextEvent(bob.engine.events$, 'failed');

  const transfer = alice.engine.get(a, 'f.bin');
  const id = (await getId).header['id']!;
  await nextEvent(alice.engine.events$, 'progress');
  // An ack past what was sent, written by hand on Alice's side of the connection.
  await a.send({ ft: 'ack', id, offset: 999_999_999 });

  const senderError = (await bobFailed).error;
  t.is(senderError.code, ErrorCode.TransferProtocol);
  t.false(senderError.remote);
  const error = await failure(transfer.done);
  t.is(error.code, ErrorCode.TransferProtocol);
  t.true(error.remote);
  t.false(a.closed, 'the connection stays open');
  t.false((await namesIn(alice.downloads)).includes('f.bin'));
});

/** Bob's connection as the engine sees it, with one byte of the chunk at `offset` flipped on its way out. */
function flipping(messenger: Messenger, offset: number): TransferConnection {
  return {
    id: messenger.id,
    messages$: messenger.messages$,
    closed$: messenger.closed$,
    socket: messenger.socket,
    maxQueueBytes: messenger.maxQueueBytes,
    get queuedBytes() {
      return messenger.queuedBytes;
    },
    send(header: HeaderInput, content?: Uint8Array) {
      if (header['ft'] === 'chunk' && header['offset'] === offset && content) {
        const altered = Buffer.from(content);
        altered[100] = altered[100]! ^ 0x01;
        return messenger.send(header, altered);
      }
      return messenger.send(header, content);
    },
  };
}
