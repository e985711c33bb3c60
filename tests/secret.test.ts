/** The filer's shared secret: a hello for the dialling side, a gate for the accepting side. */
import test from 'ava';
import { firstValueFrom, isObservable } from 'rxjs';
import { InvalidOptionError } from '../lib/errors.js';
import { CloseReasonKind } from '../lib/connection/close-reason.js';
import type { Messenger } from '../lib/connection/messenger.js';
import { SECRET_HEADER, sharedSecret } from '../lib/filer/secret.js';
import { link, next, startClient, startServer, within } from './helpers/loopback.js';

const judge = async (verdict: unknown) => (isObservable(verdict) ? firstValueFrom(verdict) : verdict);
const anyone = {} as Messenger;

test('the secret travels as the content of a {TP: "Secret"} hello, and only that secret passes the check', async (t) => {
  const { hello, authenticate } = sharedSecret('open: sesame;');
  t.deepEqual(hello.header, SECRET_HEADER);
  t.is(Buffer.from(hello.content!).toString(), 'open: sesame;');
  const message = (header: Record<string, string>, content: string) => ({ header, content: Buffer.from(content) });
  t.true(await judge(authenticate(message({ TP: 'Secret' }, 'open: sesame;'), anyone)));
  t.false(await judge(authenticate(message({ TP: 'Secret' }, 'open: sesame'), anyone)));
  t.false(await judge(authenticate(message({ TP: 'Check' }, 'open: sesame;'), anyone)));
  t.false(await judge(authenticate(message({ ID: 'alice', Port: '1' }, ''), anyone)));
});

test('an empty secret is refused, naming the option', (t) => {
  t.throws(() => sharedSecret(''), { instanceOf: InvalidOptionError, message: /^option secret:/ });
  t.throws(() => sharedSecret(new Uint8Array(0)), { instanceOf: InvalidOptionError });
});

test('over loopback a client with the secret gets in, and one with another secret is closed as auth-failed', async (t) => {
  const server = await startServer(t, { authenticate: sharedSecret('s3cret').authenticate });
  const good = await link(server, startClient(t, { hello: sharedSecret('s3cret').hello }));
  const received = next(server.incoming$);
  await good.client.send({ info: 'in' });
  t.is((await received).header['info'], 'in');

  const stranger = await next(startClient(t, { hello: sharedSecret('guess').hello }).connect('127.0.0.1', server.address.port));
  const { reason } = await within(firstValueFrom(stranger.closed$), 'the stranger to be closed');
  t.not(reason, CloseReasonKind.Local);
  t.is(server.stats().closes[CloseReasonKind.AuthFailed], 1);
  t.deepEqual(server.messengers, [good.server]);
});
