/**
 * `rx-tcp-hub peer`: the seed's `filer_client`, with file transfer. Listens (the start port or the
 * next free one, printed on the first line), reports to the tracker, keeps the address book, and
 * runs the commands typed: chat, connections, `ls`, `get`, `put`, `transfers`, `cancel`.
 */
import { filter, map, merge, mergeMap, tap, type Observable } from 'rxjs';
import { formatAddress } from '../connection/close-reason.js';
import { Peer } from '../filer/peer.js';
import { UsageError } from './args.js';
import { errorEvent } from './events.js';
import type { PeerArgs } from './filer-args.js';
import { connectionInfo, peerEvents, transferEvent, transferInfo, type FilerEvent } from './filer-events.js';
import { runFilerConsole } from './filer-console.js';
import { createFilerPrinter } from './filer-printer.js';
import { parsePeerCommand, peerCommandHelp, type PeerCommand } from './peer-commands.js';
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
  let peer!: Peer;

  const start = async () =>
    (peer = await Peer.start({
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
    }));

  // What the peer reports: its events (a tracker that stays down is told once, not at every
  // retry) and its transfers' (progress goes to the printer's display, not to the event lines).
  const reports = (started: Peer): Observable<FilerEvent> => {
    let trackerDown = false;
    return merge(
      started.events$.pipe(
        mergeMap(peerEvents),
        filter((event) => {
          if (event.event !== 'tracker') return true;
          if (event.state === 'retrying' && trackerDown) return false;
          trackerDown = event.state !== 'open';
          return true;
        }),
      ),
      started.engine.events$.pipe(
        tap((event) => {
          if (event.type === 'progress') printer.progress(event.transfer);
          else if (event.type === 'done' || event.type === 'failed' || event.type === 'cancelled') printer.ended(event.transfer.id);
        }),
        filter((event) => event.type !== 'progress'),
        map(transferEvent),
      ),
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
        for (const outcome of outcomes) if (!outcome.ok) printer.print(errorEvent(outcome.error));
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

  await runFilerConsole({
    printer,
    host: args.host,
    port: args.port,
    start,
    address: (started) => started.address,
    reports,
    execute,
    ...(input ? { input } : {}),
  });
}
