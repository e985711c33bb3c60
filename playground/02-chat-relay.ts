// Run: npx tsx playground/02-chat-relay.ts
//
// A chat room: each line a member sends is relayed to everyone but its sender, by a chain built
// from the exported operators. The server also speaks to the whole room (broadcast) and to a few
// members (multicast), and every send reports its outcome per connection.
import { filter, firstValueFrom, tap } from 'rxjs';
import {
  Client,
  Server,
  closeOnFailure,
  failures,
  relayToOthers,
  sendEach,
  type Messenger,
  type SendOutcome,
} from '../lib/index.js';
import { cell, nextMessage, showHeader, within } from './helpers.js';

const server = await Server.listen({ host: '127.0.0.1', port: 0 });
const { host, port } = server.address;

/** Server side: connection id -> the nick its member joined with. */
const nicks = new Map<string, string>();
const nickOf = (messenger: Messenger): string => nicks.get(messenger.id) ?? messenger.id;
const showOutcomes = (outcomes: SendOutcome<Messenger>[]): string =>
  outcomes.map((o) => `${nickOf(o.target)} ${o.ok ? 'ok' : `failed (${o.error.code})`}`).join(', ');

// %% Joining: a member's first message is `{join: nick}`; the server answers `{welcome: nick}`.
cell('1. The server: joins, and the relay chain');
server.incoming$.pipe(filter(({ header }) => header['join'] !== undefined)).subscribe(({ from, header }) => {
  nicks.set(from.id, header['join']!);
  from.send({ welcome: header['join']!, members: server.messengers.length }).catch((error: Error) => console.log(`server: welcome failed: ${error.message}`));
});

// The relay: every `info` line goes to every live connection but its sender, tagged with the
// sender's nick. `relayToOthers` picks the targets, `sendEach` writes the frame (encoded once),
// `closeOnFailure` closes a connection whose send failed, and `failures` keeps what went wrong.
server.incoming$
  .pipe(
    filter(({ header }) => header['info'] !== undefined),
    relayToOthers(
      () => server.messengers,
      ({ from, header }) => ({ header: { from: nickOf(from), info: header['info']! } }),
    ),
    tap(({ targets, header }) => console.log(`server: relays ${showHeader(header)} to ${targets.map(nickOf).join(', ')}`)),
    sendEach(),
    closeOnFailure(),
    failures(),
  )
  .subscribe(({ target, error }) => console.log(`server: relay to ${nickOf(target)} failed: ${error.code}`));
console.log('the server relays every info line to everyone but its sender');

/** A member: its own Client hub with one connection to the room. */
async function join(nick: string): Promise<{ nick: string; client: Client; connection: Messenger }> {
  const client = new Client();
  const connection = await firstValueFrom(client.connect(host, port).pipe(within('the dial')));
  await connection.send({ join: nick });
  const welcome = await nextMessage(connection);
  console.log(`${nick}: ${showHeader(welcome.header)}`);
  return { nick, client, connection };
}

cell('2. Three members join');
const alice = await join('alice');
const bob = await join('bob');
const carol = await join('carol');
const members = [alice, bob, carol];

// %% Alice speaks: Bob and Carol hear it. Alice does not get her own line back (cell 5 shows it:
// her next message is something else).
cell('3. A chat line is relayed to the others');
await alice.connection.send({ info: 'hello everyone' });
for (const member of [bob, carol]) console.log(`${member.nick} hears ${showHeader((await nextMessage(member.connection)).header)}`);

// %% A broadcast goes to every live connection and resolves with one outcome per connection.
cell('4. The server broadcasts to everyone');
console.log(`broadcast: ${showOutcomes(await server.broadcast({ from: 'server', info: 'welcome to the room' }))}`);
for (const member of members) console.log(`${member.nick} hears ${showHeader((await nextMessage(member.connection)).header)}`);

// %% A multicast goes to the chosen connections only: here by id, found from the nicks.
cell('5. The server multicasts to Bob and Carol');
const idsOf = (...wanted: string[]) => [...nicks].filter(([, nick]) => wanted.includes(nick)).map(([id]) => id);
console.log(`multicast: ${showOutcomes(await server.multicast(idsOf('bob', 'carol'), { from: 'server', info: 'you two are on duty' }))}`);
for (const member of [bob, carol]) console.log(`${member.nick} hears ${showHeader((await nextMessage(member.connection)).header)}`);
// Bob speaks; Alice's next message is Bob's line: neither her own line nor the multicast reached her.
await bob.connection.send({ info: 'on it' });
for (const member of [alice, carol]) console.log(`${member.nick} hears ${showHeader((await nextMessage(member.connection)).header)}`);

// %% Carol leaves. A multicast that still names her Messenger reports a failed outcome for her
// and delivers to the others.
cell('6. Carol leaves; a multicast naming her reports it');
const carolOnServer = server.get(idsOf('carol')[0]!)!;
await carol.client.stop();
const { reason } = await firstValueFrom(carolOnServer.closed$.pipe(within("carol's close")));
console.log(`server: carol's connection closed (${reason}), ${server.messengers.length} alive`);
console.log(`multicast: ${showOutcomes(await server.multicast([server.get(idsOf('bob')[0]!)!, carolOnServer], { from: 'server', info: 'roll call' }))}`);
console.log(`bob hears ${showHeader((await nextMessage(bob.connection)).header)}`);

cell('7. Stop everything');
await Promise.all([alice.client.stop(), bob.client.stop()]);
await server.stop();
console.log('stopped');
