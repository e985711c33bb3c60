/**
 * What the consoles' command languages share: how a line splits into its command word and the
 * rest, the seed's menu numbers, and the commands that read alike in every console (a blank line,
 * commands without arguments, `exit`, `stats [--json]`, `send <to> <text>`, `broadcast <text>`).
 * Each console's own parser (`commands.ts`, `peer-commands.ts`) handles the rest.
 */
import { UsageError } from './args.js';
import { parseStatsArgs } from './stats.js';

/** A command line cut in two: the first word as typed, and what follows it. */
export interface CommandLine {
  /** The first run of non-blanks; empty for a blank line. */
  readonly word: string;
  /** The rest of the line after the blanks that follow the word; inner and trailing blanks kept. */
  readonly rest: string;
}

/** The commands every console reads alike; `B` names the console's commands that take no arguments. */
export type SharedCommand<B extends string> =
  | { readonly name: 'nothing' }
  | { readonly name: 'quit' }
  | { readonly name: 'stats'; readonly json: boolean }
  | (B extends string ? { readonly name: B } : never);

/** The seed's menu numbers: `0` connect, `1` send, `2` broadcast. */
const MENU: Readonly<Record<string, string>> = { '0': 'connect', '1': 'send', '2': 'broadcast' };

/**
 * Splits a line into its first word and the rest (leading blanks dropped).
 * @example
 * splitCommandLine('  send c1  hi there ') // { word: 'send', rest: 'hi there ' }
 */
export function splitCommandLine(line: string): CommandLine {
  const match = /^\s*(\S*)\s*(.*)$/s.exec(line)!;
  return { word: match[1]!, rest: match[2]! };
}

/** The command a word names: the one its menu number stands for, or the word in lower case. */
export function commandName(word: string, menu: boolean): string {
  return (menu ? MENU[word] : undefined) ?? word.toLowerCase();
}

/**
 * Reads the commands every console shares: a blank line (`nothing`), `stats [--json]`, `exit`
 * (as `quit`) and the console's commands that take no arguments (`bare`, which holds `quit`).
 * @returns the command, or undefined when `name` is none of these
 * @throws UsageError when a command of `bare`, or `exit`, is given arguments
 */
export function parseSharedCommand<B extends string>(name: string, rest: string, bare: readonly B[]): SharedCommand<B> | undefined {
  if (name === '') return { name: 'nothing' };
  if (name === 'stats') return { name, ...parseStatsArgs(rest) };
  const exit = name === 'exit';
  if (!exit && !bare.some((command) => command === name)) return undefined;
  if (rest !== '') throw new UsageError(`${name} takes no arguments`);
  return exit ? { name: 'quit' } : ({ name } as SharedCommand<B>);
}

/**
 * Reads the arguments of `send`: a target word, then the text (the rest, as typed).
 * @throws UsageError `usage` when either is missing
 */
export function parseSendArgs(rest: string, usage: string): { readonly to: string; readonly text: string } {
  const args = /^(\S+)\s+(.+)$/s.exec(rest);
  if (!args) throw new UsageError(usage);
  return { to: args[1]!, text: args[2]! };
}

/**
 * Reads the argument of `broadcast`: the text, as typed.
 * @throws UsageError `usage` when there is none
 */
export function parseBroadcastText(rest: string, usage: string): string {
  if (rest === '') throw new UsageError(usage);
  return rest;
}

/** The error for a word that names no command of the console. */
export function unknownCommand(word: string): UsageError {
  return new UsageError(`unknown command ${JSON.stringify(word)}; type help for the list`);
}
