// Run: npx tsx playground/03-custom-operators.ts
//
// Your own operators over a hub's streams: filtering by a header, counting per sender and per time
// window, and pipelines that live exactly as long as one connection (they end with its closed$).
// Every operator here is a small composition of RxJS operators with an explicit type.
import {
  bufferTime,
  count,
  filter,
  firstValueFrom,
  interval,
  lastValueFrom,
  map,
  mergeMap,
  pipe,
  scan,
  take,
  takeUntil,
  timer,
  toArray,
  type MonoTypeOperatorFunction,
  type Observable,
  type OperatorFunction,
} from 'rxjs';
import { CHECK_HEADER, Client, CloseReasonKind, Server, sendEach, type ConnectionEvent, type Incoming, type Messenger } from '../lib/index.js';
import { cell, nextOpen, showHeader, within } from './helpers.js';

// %% The operators.

/** Keeps the messages whose header has `key` (equal to `value`, when one is given). */
function withHeader(key: string, value?: string): MonoTypeOperatorFunction<Incoming> {
  return filter(({ header }) => (value === undefined ? header[key] !== undefined : header[key] === value));
}

/** The running number of messages from each connection, after every message. */
function countPerSender(): OperatorFunction<Incoming, ReadonlyMap<string, number>> {
  return scan((counts, { from }) => new Map(counts).set(from.id, (counts.get(from.id) ?? 0) + 1), new Map<string, number>());
}

/** How many values arrived in each window of `ms` milliseconds: a rate. */
function ratePer<T>(ms: number): OperatorFunction<T, number> {
  return pipe(
    bufferTime(ms),
    map((batch) => batch.length),
  );
}

/**
 * Runs `project` for every connection that opens, and ends it when that connection closes: timers
 * and other endless streams started per connection cannot outlive it.
 */
function perConnection<R>(project: (messenger: Messenger) => Observable<R>): OperatorFunction<ConnectionEvent, R> {
  return pipe(
    filter((event) => event.type === 'open'),
    mergeMap(({ messenger }) => project(messenger).pipe(takeUntil(messenger.closed$))),
  );
}

/**
 * Finds connections that send more than `limit` messages within `ms`, once each. It only reports:
 * the subscriber closes. Closing from inside the chain (in a `tap`) would complete `messages$`
 * synchronously, under the chain's feet, before the report reached the end of it; and a
 * `takeUntil(closed$)` as in `perConnection` would cut the report the same way.
 */
function floods(limit: number, ms: number): OperatorFunction<ConnectionEvent, { messenger: Messenger; count: number }> {
  return pipe(
    filter((event) => event.type === 'open'),
    mergeMap(({ messenger }) =>
      messenger.messages$.pipe(
        ratePer(ms),
        filter((n) => n > limit),
        take(1),
        map((n) => ({ messenger, count: n })),
      ),
    ),
  );
}

const server = await Server.listen({ host: '127.0.0.1', port: 0 });
const { host, port } = server.address;
const client = new Client({ idPrefix: 'out' });
const dial = () => firstValueFrom(client.connect(host, port).pipe(within('the dial')));

// Long-lived chains, subscribed before any connection exists. Each ends by itself when the server
// stops, because `incoming$` and `connections$` complete then.
let counts: ReadonlyMap<string, number> = new Map();
server.incoming$.pipe(countPerSender()).subscribe((latest) => (counts = latest));
const rates = lastValueFrom(server.incoming$.pipe(ratePer(100), toArray()));
// The flood guard: a connection that sends more than 20 messages within 200 ms is closed.
server.connections$.pipe(floods(20, 200)).subscribe(({ messenger, count: n }) => {
  console.log(`guard: ${messenger.id} sent ${n} messages within 200 ms; closing it`);
  messenger.close(CloseReasonKind.Local, new Error(`flood: ${n} messages within 200 ms`));
});

// Summary per connection: its message count once `messages$` completes, then the reason from `closed$`.
server.connections$
  .pipe(
    filter((event) => event.type === 'open'),
    mergeMap(({ messenger }) =>
      messenger.messages$.pipe(
        count(),
        mergeMap((n) => messenger.closed$.pipe(map(({ reason }) => `summary: ${messenger.id} sent ${n} messages, then closed (${reason})`))),
      ),
    ),
  )
  .subscribe((line) => console.log(line));

// %% Filtering by a header: only `topic: news` gets through.
cell('1. withHeader: keep only the news');
const reader = await dial();
const news = firstValueFrom(server.incoming$.pipe(withHeader('topic', 'news'), take(2), toArray(), within('two news items')));
for (const [topic, info] of [['news', 'rain-tomorrow'], ['sports', 'two-nil'], ['news', 'bridge-reopens']] as const) {
  await reader.send({ topic, info });
}
for (const item of await news) console.log(`news from ${item.from.id}: ${showHeader(item.header)}`);

// %% A pipeline per connection: a heartbeat (the seed's connection check) every 20 ms while the
// connection is open. The peer consumes the checks silently; the timer stops when it closes.
cell('2. perConnection: a heartbeat that ends with its connection');
const checks = new Map<string, number>();
const checksTo = (messenger: Messenger): number => checks.get(messenger.id) ?? 0;
server.connections$
  .pipe(
    perConnection((messenger) => interval(20).pipe(map(() => ({ targets: [messenger], header: CHECK_HEADER })), sendEach())),
    filter((outcome) => outcome.ok),
  )
  .subscribe(({ target }) => checks.set(target.id, checksTo(target) + 1));
const opened = nextOpen(server);
const beating = await dial();
const beatingOnServer = await opened;
await firstValueFrom(interval(10).pipe(filter(() => checksTo(beatingOnServer) >= 3), within('three heartbeats')));
console.log(`server: sent at least 3 checks to ${beatingOnServer.id}`);
beating.close();
await firstValueFrom(beatingOnServer.closed$.pipe(within('the close')));
const atClose = checksTo(beatingOnServer);
// Nothing listened on the client side, so anything delivered would still wait in its inbox.
const delivered = await firstValueFrom(beating.messages$.pipe(count()));
await firstValueFrom(timer(100));
console.log(`client: messages$ delivered ${delivered} of the checks (each was consumed on arrival)`);
console.log(`${beatingOnServer.id} closed; 100 ms later its heartbeat count is unchanged: ${checksTo(beatingOnServer) === atClose}`);

// %% A flood guard: a connection that sends more than 20 messages within 200 ms is closed; the
// others keep working.
cell('3. floods: close a connection that floods');
const flooder = await dial();
const flooderClosed = firstValueFrom(flooder.closed$.pipe(within("the flooder's close")));
for (let i = 0; i < 50; i++) void flooder.send({ n: i }).catch(() => undefined);
console.log(`flooder: sent 50 messages at once, then saw its connection close (${(await flooderClosed).reason})`);
const echo = firstValueFrom(server.incoming$.pipe(withHeader('info', 'still-here'), within('the polite message')));
await reader.send({ info: 'still-here' });
console.log(`server: the reader still gets through: ${showHeader((await echo).header)}`);

// %% Stop: every chain completes, the summaries print, and the rate windows are complete.
cell('4. Stop: the summaries and the counts');
await client.stop();
await server.stop();
console.log(`messages per sender: ${[...counts].map(([id, n]) => `${id} ${n}`).join(', ')}`);
const windows = await rates;
console.log(`rate: busiest 100 ms window had ${Math.max(0, ...windows)} messages; ${windows.reduce((a, b) => a + b, 0)} in all`);
