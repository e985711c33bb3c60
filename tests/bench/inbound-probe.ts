/**
 * `npm run bench:inbound [-- N MiB]`: the probe of issue 21, against a server with the default
 * options: N peers (default 500) each announce a content of 64 MiB - 1, send `MiB` MiB of it
 * (default 4) and hold. Prints the server's idle and peak RSS, the bytes of unfinished frames it
 * holds, and the closes by reason: peak RSS against `maxInboundBytesTotal`. Without the budget the
 * server held what they sent (and, before the decoder grew contents with what arrived, what they
 * announced). The peers live in a child process, the server in this one; Linux only (RSS from /proc).
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Server } from '../../lib/hub/server.js';
import { DEFAULT_MAX_INBOUND_BYTES_TOTAL } from '../../lib/hub/hub-options.js';

const peers = Number(process.argv[2] ?? 500);
const sendMiB = Number(process.argv[3] ?? 4);
const residentMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const announced = 64 * 1024 * 1024 - 1;

if (process.argv[4] === 'peers') {
  const port = Number(process.argv[5]);
  const text = `CL:${announced}`;
  const head = Buffer.alloc(2 + text.length); // the seed's prefix: the header's length, 2 bytes little-endian
  head.writeUInt16LE(text.length, 0);
  head.write(text, 2, 'latin1');
  const part = Buffer.alloc(sendMiB * 1024 * 1024, 0x61);
  let done = 0;
  for (let i = 0; i < peers; i++) {
    const socket = connect(port, '127.0.0.1', () => socket.write(head) && socket.write(part, () => done++));
    socket.on('error', () => done++); // closed by the server: expected
    socket.on('close', () => {});
  }
  const timer = setInterval(() => {
    if (done >= peers) {
      clearInterval(timer);
      process.send!('sent');
    }
  }, 20);
  setInterval(() => {}, 60_000); // held open until killed
} else {
  const server = await Server.listen({ port: 0 });
  const idle = residentMiB();
  let peak = idle;
  let peakHeld = 0;
  const sampling = setInterval(() => {
    peak = Math.max(peak, residentMiB());
    peakHeld = Math.max(peakHeld, server.messengers.reduce((sum, m) => sum + m.unfinishedBytes, 0));
  }, 10);
  const child = fork(fileURLToPath(import.meta.url), [String(peers), String(sendMiB), 'peers', String(server.address.port)], { execArgv: ['--import', 'tsx'] });
  await new Promise((resolve) => child.once('message', resolve));
  await new Promise((resolve) => setTimeout(resolve, 500)); // the last bytes in flight
  clearInterval(sampling);
  const { closes } = server.stats();
  const MiB = (n: number) => (n / 2 ** 20).toFixed(0);
  console.log(`${peers} peers, each announcing 64 MiB and sending ${sendMiB} MiB (${MiB(peers * sendMiB * 2 ** 20)} MiB in all), default options:`);
  console.log(`unfinished bytes held at most ${MiB(peakHeld)} MiB (maxInboundBytesTotal ${MiB(DEFAULT_MAX_INBOUND_BYTES_TOTAL)} MiB); ${server.messengers.length} left open`);
  console.log(`server RSS: idle ${idle.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB`);
  console.log(`closes: ${JSON.stringify(Object.fromEntries(Object.entries(closes).filter(([, n]) => n > 0)))}`);
  child.kill();
  await server.stop({ drainMs: 0 });
}
