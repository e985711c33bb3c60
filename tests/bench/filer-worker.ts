/**
 * One process of the filer benchmark (`filer.ts` forks it): a filer peer built on the library's
 * `Peer`, or one end of the plain TCP copy made with `node:net`. It takes its orders and reports
 * over the IPC channel; every report carries the process's peak RSS so far.
 *
 *   peer <shareDir> <downloadsDir>   listens; on {get: {port, name}} downloads name from that port
 *   net-receive <file>               listens; writes whatever one connection sends to <file>
 *   net-send <file> <port>           connects and pipes <file> to the socket
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { connect, createServer } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Peer } from '../../lib/filer/index.js';

/** What a worker tells the orchestrator. */
export type WorkerReport =
  | { readonly type: 'ready'; readonly port: number; readonly maxRssBytes: number }
  | { readonly type: 'done'; readonly bytes: number; readonly ms: number; readonly sha256?: string; readonly maxRssBytes: number }
  | { readonly type: 'failed'; readonly error: string; readonly maxRssBytes: number };

/** What the orchestrator asks of a worker. */
export type WorkerOrder = { readonly type: 'get'; readonly port: number; readonly name: string } | { readonly type: 'rss' } | { readonly type: 'stop' };

/** Peak RSS of this process, in bytes (`maxRSS` is in KiB). */
const maxRss = (): number => process.resourceUsage().maxRSS * 1024;
type Unmeasured = { [K in WorkerReport['type']]: Omit<Extract<WorkerReport, { type: K }>, 'maxRssBytes'> }[WorkerReport['type']];
const report = (message: Unmeasured): void => void process.send!({ ...message, maxRssBytes: maxRss() });

const [role, ...args] = process.argv.slice(2);

process.on('uncaughtException', (error) => {
  report({ type: 'failed', error: error.stack ?? String(error) });
  process.exit(1);
});

switch (role) {
  case 'peer': {
    const [shareDir, downloadsDir] = args as [string, string];
    const peer = await Peer.start({ id: `bench${process.pid}`, port: 0, shareDir, downloadsDir });
    process.on('message', (order: WorkerOrder) => {
      if (order.type === 'rss') return report({ type: 'done', bytes: 0, ms: 0 });
      if (order.type === 'stop') return void peer.stop().then(() => process.exit(0));
      const started = performance.now();
      peer
        .get(`127.0.0.1:${order.port}`, order.name)
        .then((transfer) => transfer.done)
        .then(
          (summary) => report({ type: 'done', bytes: summary.size, ms: performance.now() - started, sha256: summary.sha256 }),
          (error: unknown) => report({ type: 'failed', error: String(error) }),
        );
    });
    report({ type: 'ready', port: peer.address.port });
    break;
  }
  case 'net-receive': {
    const [file] = args as [string];
    const server = createServer((socket) => {
      server.close();
      const started = performance.now();
      let bytes = 0;
      socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
      pipeline(socket, createWriteStream(file)).then(
        () => report({ type: 'done', bytes, ms: performance.now() - started }),
        (error: unknown) => report({ type: 'failed', error: String(error) }),
      );
    });
    server.listen(0, '127.0.0.1', () => report({ type: 'ready', port: (server.address() as { port: number }).port }));
    process.on('message', (order: WorkerOrder) => {
      if (order.type === 'rss') report({ type: 'done', bytes: 0, ms: 0 });
      if (order.type === 'stop') process.exit(0);
    });
    break;
  }
  case 'net-send': {
    const [file, port] = args as [string, string];
    const socket = connect({ host: '127.0.0.1', port: Number(port) });
    socket.once('connect', () => {
      const started = performance.now();
      pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), socket).then(
        () => report({ type: 'done', bytes: socket.bytesWritten, ms: performance.now() - started }),
        (error: unknown) => report({ type: 'failed', error: String(error) }),
      );
    });
    process.on('message', (order: WorkerOrder) => {
      if (order.type === 'stop') process.exit(0);
    });
    break;
  }
  default:
    throw new Error(`unknown role ${String(role)}`);
}
