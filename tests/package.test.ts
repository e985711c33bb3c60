/**
 * The package as users get it: `npm pack`, installed into a plain JavaScript project, imported by
 * Node.js without tsx, with its `bin` run as installed.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;

test('the packed tarball installs into a plain JavaScript project, imports without tsx, and runs its bin', async (t) => {
  t.timeout(240_000);
  const dir = await mkdtemp(join(tmpdir(), 'rx-tcp-hub-pack-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root, maxBuffer: 16 << 20 });
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string; files: { path: string }[] }];
  const files = packed.files.map((f) => f.path);
  t.true(files.includes('dist/index.js'));
  t.true(files.includes('dist/index.d.ts'));
  t.true(files.includes('dist/testing/index.d.ts'));
  t.true(files.includes('dist/filer/index.d.ts'));
  t.true(files.includes('dist/cli/main.js'));
  t.false(files.some((f) => f.startsWith('lib/') || f.startsWith('tests/')), 'sources and tests stay out of the tarball');

  const app = join(dir, 'app');
  await run('mkdir', ['-p', app]);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'plain-js-app', version: '1.0.0', private: true }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, packed.filename)], { cwd: app });

  const script = `
    import { Server, Client, encodeFrame, ErrorCode } from 'rx-tcp-hub';
    import { MemoryHub } from 'rx-tcp-hub/testing';
    import { Tracker, DEFAULT_TRACKER_PORT } from 'rx-tcp-hub/filer';
    import * as root from 'rx-tcp-hub';
    import { firstValueFrom } from 'rxjs';
    const server = await Server.listen({ host: '127.0.0.1', port: 0 });
    const got = firstValueFrom(server.incoming$);
    const client = new Client();
    const m = await firstValueFrom(client.connect('127.0.0.1', server.address.port));
    await m.send({ info: 'hi' });
    const { header } = await got;
    await client.stop();
    await server.stop();
    const hub = new MemoryHub();
    hub.connectPeer();
    await hub.stop();
    console.log(JSON.stringify({ info: header.info, frame: encodeFrame({}).map((b) => b.toString('hex')), code: ErrorCode.QueueFull, filer: typeof Tracker.listen, port: DEFAULT_TRACKER_PORT, lean: !('Tracker' in root) }));
  `;
  const imported = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app, timeout: 30_000 });
  t.deepEqual(JSON.parse(imported.stdout), { info: 'hi', frame: ['0400434c3a30'], code: 'ERR_QUEUE_FULL', filer: 'function', port: 5000, lean: true });

  const installed = JSON.parse(await readFile(join(app, 'node_modules/rx-tcp-hub/package.json'), 'utf8')) as { types: string };
  t.is(installed.types, './dist/index.d.ts');

  const help = await run(join(app, 'node_modules/.bin/rx-tcp-hub'), ['--help'], { cwd: app, timeout: 30_000 });
  t.regex(help.stdout, /server/);
  t.regex(help.stdout, /client/);
});
