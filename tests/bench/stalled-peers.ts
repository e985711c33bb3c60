/**
 * `npm run bench:stalled [-- N]`: N peers (default 10,000) connect to a server with the library's
 * default options (but the first-message deadline, which would close them first: they never send)
 * and stop reading; the server broadcasts 1 KiB messages until every one is closed. Prints the
 * server's idle RSS with all connected, its peak RSS until the last close, the queued bytes seen,
 * and the closes by reason: what the README's Limits section says 1 GB survives. The peers live in
 * a child process, the server in this one; Linux only (RSS from /proc).
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Server } from '../../lib/hub/server.js';

const peers = Number(process.argv[2] ?? 10_000);
const residentMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;

if (process.argv[3] === 'peers') {
  const port = Number(process.argv[4]);
  for (let i = 0; i < peers; i++) {
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => resolve(void socket.pause()));
      socket.on('error', () => {}); // closed by the server: expected
    });
  }
  process.send!('connected');
  setInterval(() => {}, 60_000); // held open until killed
} else {
  const server = await Server.listen({ port: 0, firstMessageTimeoutMs: 0 });
  const child = fork(fileURLToPath(import.meta.url), [String(peers), 'peers', String(server.address.port)], { execArgv: ['--import', 'tsx'] });
  await new Promise((resolve) => child.once('message', resolve));
  while (server.messengers.length < peers) await new Promise((resolve) => setTimeout(resolve, 50));
  const idle = residentMiB();
  let peak = idle;
  let peakQueued = 0;
  const started = Date.now();
  const content = Buffer.alloc(1024, 1);
  let sent = 0;
  while (server.messengers.length > 0 && Date.now() - started < 120_000) {
    for (let i = 0; i < 10; i++) await server.broadcast({ seq: sent++ }, content);
    await new Promise((resolve) => setImmediate(resolve));
    peak = Math.max(peak, residentMiB());
    peakQueued = Math.max(peakQueued, server.stats().queuedBytes);
  }
  const { closes } = server.stats();
  console.log(`${peers} stalled peers, default options: ${server.messengers.length} left open after ${((Date.now() - started) / 1000).toFixed(1)} s and ${sent} broadcasts`);
  console.log(`server RSS: idle ${idle.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB; queued bytes at most ${(peakQueued / 2 ** 20).toFixed(0)} MiB`);
  console.log(`closes: ${JSON.stringify(Object.fromEntries(Object.entries(closes).filter(([, n]) => n > 0)))}`);
  child.kill();
  await server.stop({ drainMs: 0 });
}
