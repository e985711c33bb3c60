#!/usr/bin/env node
/**
 * The `rx-tcp-hub` command: the `server` and `client` consoles, and the filer's `tracker` and
 * `peer`. A mistake on the command line prints one line to stderr and exits with status 2; a
 * console that cannot listen exits with status 1.
 */
import { UsageError, parseClientArgs, parseServerArgs } from './args.js';
import { runClientConsole } from './client-console.js';
import { parsePeerArgs, parseTrackerArgs } from './filer-args.js';
import { MAIN_HELP, PEER_HELP, TRACKER_HELP, consoleHelp } from './help.js';
import { runPeerConsole } from './peer-console.js';
import { ListenError, runServerConsole } from './server-console.js';
import { runTrackerConsole } from './tracker-console.js';

const SUBCOMMANDS = ['server', 'client', 'tracker', 'peer'];

const [subcommand, ...rest] = process.argv.slice(2);

try {
  switch (subcommand) {
    case 'server': {
      const args = parseServerArgs(rest);
      if (args.help) console.log(consoleHelp('server'));
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
      const args = parseTrackerArgs(rest);
      if (args.help) console.log(TRACKER_HELP);
      else await runTrackerConsole(args);
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
