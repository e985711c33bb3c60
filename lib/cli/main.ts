#!/usr/bin/env node
/**
 * The `rx-tcp-hub` command: `server` and `client` consoles. A mistake on the command line prints
 * one line to stderr and exits with status 2; a server that cannot listen exits with status 1.
 */
import { UsageError, parseClientArgs, parseServerArgs } from './args.js';
import { runClientConsole } from './client-console.js';
import { MAIN_HELP, consoleHelp } from './help.js';
import { ListenError, runServerConsole } from './server-console.js';

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
    case '--help':
    case '-h':
    case 'help':
      console.log(MAIN_HELP);
      break;
    case undefined:
      throw new UsageError('missing subcommand: server or client');
    default:
      throw new UsageError(`unknown subcommand ${JSON.stringify(subcommand)}: expected server or client`);
  }
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`rx-tcp-hub: ${error.message} (see rx-tcp-hub${subcommand === 'server' || subcommand === 'client' ? ` ${subcommand}` : ''} --help)`);
    process.exitCode = 2;
  } else if (error instanceof ListenError) {
    console.error(`rx-tcp-hub: ${error.message}`);
    process.exitCode = 1;
  } else {
    throw error;
  }
}
