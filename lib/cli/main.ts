#!/usr/bin/env node
/**
 * The `rx-tcp-hub` command: the `server` and `client` consoles, and the filer's `tracker` and
 * `peer`. A mistake on the command line prints one line to stderr and exits with status 2; a
 * console that cannot listen exits with status 1.
 */
import { UsageError, parseClientArgs, parseServerArgs } from './args.js';
import { runClientConsole } from './client-console.js';
import { readSecret, tlsOptions } from './flag-files.js';
import { parsePeerArgs, parseTrackerArgs } from './filer-args.js';
import { MAIN_HELP, PEER_HELP, TRACKER_HELP, consoleHelp } from './help.js';
import { runPeerConsole } from './peer-console.js';
import { ListenError, runServerConsole } from './server-console.js';
import { runTrackerConsole } from './tracker-console.js';
import { takeScaleFlags } from '../redis/cli-flags.js';

const SUBCOMMANDS = ['server', 'client', 'tracker', 'peer'];

const [subcommand, ...rest] = process.argv.slice(2);

try {
  switch (subcommand) {
    case 'server': {
      const { scale, rest: argv } = takeScaleFlags(rest, (message) => new UsageError(message));
      const args = parseServerArgs(argv);
      if (args.help) console.log(consoleHelp('server'));
      else if (scale) {
        const tls = await tlsOptions(args.limits.tls, 'listen');
        const options = { host: args.host, port: args.port, ...args.limits.connection, ...args.limits.listen, ...(tls ? { tls } : {}) };
        await (await scaledOut()).runScaledServer(scale, options);
      }
      else await runServerConsole(args);
      break;
    }
    case 'client': {
      const args = parseClientArgs(rest);
      if (args.help) console.log(consoleHelp('client'));
      else await runClientConsole(args);
      break;
    }
    case 'tracker': {
      const { scale, rest: argv } = takeScaleFlags(rest, (message) => new UsageError(message));
      const args = parseTrackerArgs(argv);
      if (args.help) console.log(TRACKER_HELP);
      else if (scale) {
        const { host, port, intervalMs, expireMs, limits } = args;
        const tls = await tlsOptions(limits.tls, 'listen');
        const secret = await readSecret(args.secret);
        const options = { host, port, intervalMs, expireMs, ...limits.connection, ...limits.listen, ...(tls ? { tls } : {}), ...(secret !== undefined ? { secret } : {}) };
        await (await scaledOut()).runScaledTracker(scale, options);
      } else await runTrackerConsole(args);
      break;
    }
    case 'peer': {
      const args = parsePeerArgs(rest);
      if (args.help) console.log(PEER_HELP);
      else await runPeerConsole(args);
      break;
    }
    case '--help':
    case '-h':
    case 'help':
      console.log(MAIN_HELP);
      break;
    case undefined:
      throw new UsageError('missing subcommand: server, client, tracker or peer');
    default:
      throw new UsageError(`unknown subcommand ${JSON.stringify(subcommand)}: expected server, client, tracker or peer`);
  }
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`rx-tcp-hub: ${error.message} (see rx-tcp-hub${SUBCOMMANDS.includes(subcommand ?? '') ? ` ${subcommand}` : ''} --help)`);
    process.exitCode = 2;
  } else if (error instanceof ListenError) {
    console.error(`rx-tcp-hub: ${error.message}`);
    process.exitCode = 1;
  } else {
    throw error;
  }
}

/** `--workers N --redis URL`: loaded only then, as it needs the optional dependency ioredis. */
async function scaledOut(): Promise<typeof import('../redis/cli.js')> {
  try {
    return await import('../redis/cli.js');
  } catch (error) {
    throw new UsageError(`--workers and --redis need the optional dependency ioredis (npm install ioredis): ${(error as Error).message}`);
  }
}
