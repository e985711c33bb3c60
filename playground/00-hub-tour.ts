// Run: npx tsx playground/00-hub-tour.ts
//
// A tour of the hub: a chat server and three members (alice, bob, carol) on 127.0.0.1; chat lines
// relayed to everyone but their sender, a broadcast, a multicast to two; then two failing peers,
// each closed alone while the room keeps talking: mallory breaks the wire format (protocol-error)
// and dave stops reading (slow-consumer). Each step waits for the last, so the transcript reads in
// the order things happened.
import { connect as netConnect, type Socket } from 'node:net';
import { filter, firstValueFrom, tap } from 'rxjs';
import {
  Client,
  Server,
  closeOnFailure,
  failures,
  formatAddress,
  relayToOthers,
  sendEach,
  type ClientOptions,
  type Messenger,
  type SendOutcome,
} from '../lib/index.js';
import { nextMessage, nextOpen, say, within } from './helpers.js';

const started = Date.now();
console.log('rx-tcp-hub hub tour: one chat server, three members, two peers that fail\n');

// The server, with a 1 MiB outbound queue per connection so a stalled reader is found quickly.
const server = await Server.listen({ host: '127.0.0.1', port: 0, maxQueueBytes: 1024 * 1024 });
const { host, port } = server.address;
say('server', `listening on ${formatAddress(server.address)}`);

/** Server side: connection id -> nick. */
const nicks = new Map<string, string>();
const nickOf = (messenger: Messenger): string => nicks.get(messenger.id) ?? messenger.id;
const label = (messenger: Messenger): string => (nicks.has(messenger.id) ? `${messenger.id} ${nicks.get(messenger.id)}` : messenger.id);
const codeOf = (error: Error | undefined): string => (error ? ` (${(error as { code?: string }).code ?? error.message})` : '');
const showOutcomes = (outcomes: SendOutcome<Messenger>[]): string =>
  outcomes.map((o) => `${nickOf(o.target)} ${o.ok ? 'ok' : `failed${codeOf(o.error)}`}`).join(', ');

server.connections$.subscribe((event) => {
  if (event.type === 'open') {
    say('server', `${event.messenger.id} connected from ${formatAddress(event.messenger.addr)} (${event.alive} alive)`);
  } else {
    say('server', `${label(event.messenger)} closed: ${event.reason.reason}${codeOf(event.reason.error)} (${event.alive} alive)`);
  }
});

// Joining: `{join: nick}` in, `{welcome: nick}` back.
server.incoming$.pipe(filter(({ header }) => header['join'] !== undefined)).subscribe(({ from, header }) => {
  nicks.set(from.id, header['join']!);
  say('server', `${label(from)} joined (${server.messengers.length} alive)`);
  from.send({ welcome: header['join']! }).catch(() => undefined);
});

// The relay: every chat line to every live connection but its sender, from the exported operators.
server.incoming$
  .pipe(
    filter(({ header }) => header['info'] !== undefined),
    relayToOthers(
      () => server.messengers,
      ({ from, header }) => ({ header: { from: nickOf(from), info: header['info']! } }),
    ),
    tap(({ header, targets }) => say('server', `relays ${header['from']}'s line to ${targets.map(nickOf).join(', ')}`)),
    sendEach(),
    closeOnFailure(),
    failures(),
  )
  .subscribe(({ target, error }) => say('server', `relay to ${nickOf(target)} failed${codeOf(error)}`));

interface Member {
  readonly nick: string;
  readonly client: Client;
  readonly connection: Messenger;
}

/** A member: a Client of its own, one connection, a join, and the server's welcome. */
async function join(nick: string, options: ClientOptions = {}): Promise<Member> {
  const client = new Client(options);
  const connection = await firstValueFrom(client.connect(host, port).pipe(within(`${nick}'s dial`)));
  await connection.send({ join: nick });
  await nextMessage(connection); // the welcome
  return { nick, client, connection };
}

/** Each listener prints its next message, in the order given. */
async function hear(...listeners: Member[]): Promise<void> {
  for (const { nick, connection } of listeners) {
    const { header } = await nextMessage(connection);
    say(nick, `${header['from']}: ${header['info']}`);
  }
}

async function chat(speaker: Member, text: string, ...listeners: Member[]): Promise<void> {
  say(speaker.nick, `says "${text}"`);
  await speaker.connection.send({ info: text });
  await hear(...listeners);
}

const alice = await join('alice');
const bob = await join('bob');
const carol = await join('carol');

console.log('\n-- chat, broadcast, multicast');
await chat(alice, 'hello everyone', bob, carol);
await chat(bob, 'hi alice', alice, carol);

const notice = 'the room closes at nine';
say('server', `broadcasts "${notice}": ${showOutcomes(await server.broadcast({ from: 'server', info: notice }))}`);
await hear(alice, bob, carol);

const duty = 'you two are on duty';
const pair = server.messengers.filter((m) => ['bob', 'carol'].includes(nickOf(m)));
say('server', `multicasts "${duty}" to bob and carol: ${showOutcomes(await server.multicast(pair, { from: 'server', info: duty }))}`);
await hear(bob, carol);
// Alice's next message is carol's line: the multicast did not reach her.
await chat(carol, 'on it', alice, bob);

console.log('\n-- mallory breaks the wire format');
say('mallory', "connects with a raw socket and sends a header pair with no ':'");
const opened = nextOpen(server);
const mallory: Socket = netConnect({ host, port });
mallory.on('error', () => undefined); // the server may reset it; that is the point
const malloryGone = new Promise<void>((resolve) => mallory.once('close', () => resolve()));
const malloryOnServer = await opened;
const text = Buffer.from('CL:0;no-colon-here', 'utf8');
const prefix = Buffer.alloc(2);
prefix.writeUInt16LE(text.length, 0);
mallory.write(Buffer.concat([prefix, text]));
await firstValueFrom(malloryOnServer.closed$.pipe(within("mallory's close")));
await malloryGone;
say('mallory', 'disconnected by the server');
await chat(alice, 'what was that', bob, carol);

console.log('\n-- dave stops reading');
// maxInboxBytes 0: once dave stops taking messages, his side stops reading the socket at once.
const dave = await join('dave', { maxInboxBytes: 0 });
const daveOnServer = server.messengers.find((m) => nickOf(m) === 'dave')!;
say('dave', 'stops reading');
say('server', 'sends dave a 256 KiB snapshot per tick until his queue is full');
const snapshot = Buffer.alloc(256 * 1024, 0x2e);
let last: Promise<SendOutcome<Messenger>> | undefined;
let sent = 0;
for (; sent < 400 && !daveOnServer.closed; sent++) {
  last = server.send(daveOnServer, { snapshot: sent }, snapshot);
  await new Promise((resolve) => setImmediate(resolve));
}
const outcome = await last!;
if (outcome.ok) throw new Error(`dave never filled his queue in ${sent} snapshots`);
say('server', `${sent - 1} snapshots queued, the next one failed: ${outcome.error.message}`);
await chat(bob, 'still here', alice, carol);

console.log('\n-- carol leaves; the server stops');
const carolOnServer = server.messengers.find((m) => nickOf(m) === 'carol')!;
say('carol', 'leaves');
await carol.client.stop();
await firstValueFrom(carolOnServer.closed$.pipe(within("carol's close")));
say('server', 'stops');
await server.stop();
await Promise.all([alice, bob, dave].map((member) => member.client.stop()));
console.log(`\ndone in ${Date.now() - started} ms`);
