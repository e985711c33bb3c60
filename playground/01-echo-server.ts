// Run: npx tsx playground/01-echo-server.ts
//
// An echo server, the smallest useful hub: every message goes back to the connection it came from.
// Each cell below prints what it shows; the script starts everything on 127.0.0.1 port 0 and stops
// everything at the end, so it exits by itself.
import { firstValueFrom, take, toArray } from 'rxjs';
import { CHECK_HEADER, Client, FrameEncodeError, Server, formatAddress } from '../lib/index.js';
import { cell, nextMessage, showHeader, showMessage, within } from './helpers.js';

// %% A server on loopback. Port 0 lets the system pick a free port; `address` reads it back.
cell('1. A server listens on 127.0.0.1, port 0');
// keepLatest: the seed's `header` and `body` fields, read in cell 8.
const server = await Server.listen({ host: '127.0.0.1', port: 0, keepLatest: true });
const { host, port } = server.address;
console.log(`listening on ${formatAddress(server.address)}`);

// %% The echo is one subscription: it replaces the seed's overridden `receive_callback`. Each
// message carries its connection in `from`, so the reply is `from.send(...)`.
cell('2. The echo: one subscription to incoming$');
server.incoming$.subscribe(({ from, header, content }) => {
  from.send({ ...header, echo: 'yes' }, content).catch((error: Error) => console.log(`reply to ${from.id} failed: ${error.message}`));
});
// `connections$` replaces `new_connect_callback` and `client_close_callback(client, alive)`.
server.connections$.subscribe((event) => {
  const why = event.type === 'close' ? ` (${event.reason.reason})` : '';
  console.log(`server: ${event.type} ${event.messenger}${why}, ${event.alive} alive`);
});
console.log('subscribed: incoming$ echoes, connections$ logs');

// %% A client dials the server. `connect` is lazy: the dial starts when something subscribes.
// Ids are per hub: the client's `c1` and the server's `c1` are the two ends of one connection.
cell('3. A client connects');
const client = new Client();
const connection = await firstValueFrom(client.connect(host, port).pipe(within('the dial')));
console.log(`client: connected as ${connection.id} to ${formatAddress(connection.addr)}`);

// %% Three messages out, three echoes back, in order. Subscribing first is not required: what
// arrives while nobody listens waits in the connection's inbox.
cell('4. Three messages, three echoes, in order');
for (const word of ['one', 'two', 'three']) await connection.send({ info: word });
const echoes = await firstValueFrom(connection.messages$.pipe(take(3), toArray(), within('three echoes')));
for (const echo of echoes) console.log(`client: got ${showHeader(echo.header)}`);

// %% Content is raw bytes; its length travels in the header (`CL`), written by the library.
cell('5. Binary content travels as bytes');
await connection.send({ kind: 'bytes' }, Buffer.from([0xde, 0xad, 0xbe, 0xef]));
const binary = await nextMessage(connection);
console.log(`client: got ${showMessage(binary)}: ${binary.content.toString('hex')}`);

// %% The seed's connection check `{TP: Check}` is consumed by the receiving side: the echo
// subscription never sees it, so the next echo is the message sent after it.
cell('6. The connection check is consumed, never delivered');
await connection.send(CHECK_HEADER);
await connection.send({ info: 'after-the-check' });
console.log(`client: next echo is ${showHeader((await nextMessage(connection)).header)}`);

// %% Header values cannot hold ':' or ';' (the seed's decoder could not read them back), so such a
// send is refused before any byte is written. Free text belongs in the content.
cell("7. Free text goes in the content, not in a header value");
try {
  await connection.send({ info: 'time: 12:00; all good' });
} catch (error) {
  if (!(error instanceof FrameEncodeError)) throw error;
  console.log(`client: refused, ${error.code}: ${error.message}`);
}
await connection.send({ kind: 'text' }, Buffer.from('time: 12:00; all good'));
const text = await nextMessage(connection);
console.log(`client: got ${showHeader(text.header)} with content "${text.content.toString('utf8')}"`);

// %% The seed's Messenger fields, read on the server's side of the connection.
cell("8. The seed's Messenger fields, on the server side");
const onServer = server.messengers[0]!;
console.log(`id ${onServer.id}, addr ${formatAddress(onServer.addr)}`);
console.log(`latest header ${showHeader(onServer.header)}, body "${onServer.body.toString('utf8')}"`);
console.log(`recvTime > 0: ${onServer.recvTime > 0}, sendTime > 0: ${onServer.sendTime > 0}`);

// %% The client hangs up; the server sees `peer-closed` and the number of connections left.
cell('9. The client closes; the server sees it');
connection.close();
const { reason } = await firstValueFrom(onServer.closed$.pipe(within('the close')));
console.log(`server: ${onServer.id} closed$ emitted ${reason}`);

// %% Stopping closes every connection and completes every stream; nothing is left open.
cell('10. Stop both hubs');
await client.stop();
await server.stop();
console.log('stopped: the process exits by itself');
