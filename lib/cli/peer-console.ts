/**
 * `rx-tcp-hub peer`: the seed's `filer_client`, with file transfer. Listens (the start port or the
 * next free one, printed on the first line), reports to the tracker, keeps the address book, and
 * runs the commands typed: chat, connections, `ls`, `get`, `put`, `transfers`, `cancel`.
 */
import { Subject, Subscription, mergeMap } from 'rxjs';
import { InvalidOptionError } from '../errors.js';
import { formatAddress } from '../connection/close-reason.js';
import { Peer } from '../filer/peer.js';
import { UsageError } from './args.js';
import { errorEvent } from './events.js';
import type { PeerArgs } from './filer-args.js';
import { connectionInfo, peerEvents, transferEvent, transferInfo, type FilerEvent } from './filer-events.js';
import { createFilerPrinter } from './filer-printer.js';
import { runLineLoop } from './line-loop.js';
import { parsePeerCommand, peerCommandHelp, type PeerCommand } from './peer-commands.js';
import { ListenError } from './server-console.js';
import { dialTls, listenTls, readSecret, readTlsFiles } from './flag-files.js';
import { printStats } from './stats.js';

/**
 * Starts the peer, prints the address it listens on as the first line, then runs commands until
 * `quit`, the end of input or a signal.
 * @throws ListenError when no port could be listened on; UsageError for a missing shared folder
 * or a TLS or secret file that cannot be read or used
 */
export async function runPeerConsole(args: PeerArgs, input?: NodeJS.ReadableStream & { isTTY?: boolean }): Promise<void> {
  const printer = createFilerPrinter({ json: args.json, progressEveryMs: args.progressEveryMs });
  const tls = args.limits.tls ? await readTlsFiles(args.limits.tls) : undefined;
  const secret = await readSecret(args.secret);
  const events = new Subject<FilerEvent>();
  const wiring = new Subscription();
  let peer!: Peer;

  const start = async () => {
    try {
      peer = await Peer.start({
        id: args.id,
        host: args.host,
        port: args.port,
        ...(args.tracker ? { tracker: args.tracker } : {}),
        reportIntervalMs: args.intervalMs,
        shareDir: args.share,
        downloadsDir: args.downloads,
        serverOptions: { ...args.limits.connection, ...args.limits.listen, ...(tls ? { tls: listenTls(tls) } : {}) },
        clientOptions: { ...args.limits.connection, ...(tls ? { tls: dialTls(tls) } : {}) },
        ...(secret !== undefined ? { secret } : {}),
      });
    } catch (error) {
      if (error instanceof InvalidOptionError) throw new UsageError(error.message);
      throw new ListenError(args.host, args.port, error);
    }
    printer.print({ event: 'listening', ...peer.address });
    // A tracker that stays down is told once, not at every retry.
    let trackerDown = false;
    wiring.add(
      peer.events$.pipe(mergeMap(peerEvents)).subscribe((event) => {
        if (event.event === 'tracker') {
          if (event.state === 'retrying' && trackerDown) return;
          trackerDown = event.state !== 'open';
        }
        events.next(event);
      }),
    );
    wiring.add(
      peer.engine.events$.subscribe((event) => {
        if (event.type === 'progress') return printer.progress(event.transfer);
        if (event.type === 'done' || event.type === 'failed' || event.type === 'cancelled') printer.ended(event.transfer.id);
        events.next(transferEvent(event));
      }),
    );
  };

  const execute = async (line: string): Promise<'quit' | void> => {
    const command = parsePeerCommand(line);
    if (command.name === 'quit') return 'quit';
    await run(command);
  };

  async function run(command: Exclude<PeerCommand, { name: 'quit' }>): Promise<void> {
    switch (command.name) {
      case 'nothing':
        return;
      case 'help':
        return printer.print({ event: 'help', commands: peerCommandHelp() });
      case 'peers':
        return printer.print({
          event: 'peers',
          peers: peer.addressBook.map((entry) => ({ id: entry.id, addr: formatAddress(entry) })),
          tracker: args.tracker !== undefined,
        });
      case 'connect': {
        const before = new Set(peer.connections.map((c) => c.id));
        const connection = await peer.connect(command.peer);
        return printer.print({ event: 'connected', existing: before.has(connection.id), ...connectionInfo(connection) });
      }
      case 'list':
        return printer.print({ event: 'list', connections: peer.connections.map((c, index) => ({ index, ...connectionInfo(c) })) });
      case 'send':
        return printer.print({ event: 'sent', ...connectionInfo(await peer.send(command.to, command.text)) });
      case 'broadcast': {
        const outcomes = await peer.broadcast(command.text);
        for (const outcome of outcomes) if (!outcome.ok) printer.print(errorEvent(outcome.error) as FilerEvent);
        return printer.print({
          event: 'broadcast',
          to: outcomes.filter((o) => o.ok).map((o) => o.target.id),
          failed: outcomes.filter((o) => !o.ok).map((o) => o.target.id),
        });
      }
      case 'close': {
        const connection = peer.connections.find((c) => c.id === command.conn) ?? (/^[0-9]+$/.test(command.conn) ? peer.connections[Number(command.conn)] : undefined);
        if (!connection) throw new UsageError(`no connection ${JSON.stringify(command.conn)}; type list to see them`);
        printer.print({ event: 'closing', id: connection.id });
        connection.messenger.close();
        return;
      }
      case 'ls': {
        const connection = await peer.connectionTo(command.peer);
        const files = await peer.engine.list(connection.messenger);
        return printer.print({ event: 'files', ...connectionInfo(connection), files });
      }
      case 'get':
        // The transfer reports itself (requested, started, progress, the summary) as it goes.
        await peer.get(command.peer, command.file, command.as);
        return;
      case 'put':
        await peer.put(command.peer, command.file, command.as);
        return;
      case 'transfers':
        return printer.print({ event: 'transfers', transfers: peer.transfers.map(transferInfo) });
      case 'stats':
        return printStats(printer, peer.stats(), command.json);
      case 'cancel': {
        const active = peer.transfers.some((t) => t.id === command.id && !['done', 'failed', 'cancelled'].includes(t.state));
        if (!active) throw new UsageError(`no active transfer ${JSON.stringify(command.id)}; type transfers to see them`);
        printer.print({ event: 'cancelling', id: command.id });
        peer.cancel(command.id);
        return;
      }
    }
  }

  await runLineLoop({
    events$: events,
    print: (event) => printer.print(event),
    start,
    execute,
    report: (error) => printer.print(errorEvent(error) as FilerEvent),
    stop: async () => {
      await peer?.stop();
      wiring.unsubscribe();
    },
    ...(input ? { input } : {}),
  });
  printer.print({ event: 'stopped' });
}
