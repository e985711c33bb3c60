/**
 * The `--workers N` and `--redis URL` flags of `rx-tcp-hub server` and `tracker`, read apart from
 * the others so that the command line loads `rx-tcp-hub/redis` (and ioredis) only when they are
 * given. No Redis here.
 */

/** How to scale a listening subcommand out. */
export interface ScaleFlags {
  /** Worker processes sharing the port (`--workers`, default 1). */
  readonly workers: number;
  /** The Redis that joins them, and any other process of the same namespace (`--redis`). */
  readonly redis: string;
}

/**
 * Takes `--workers N` and `--redis URL` (or `--workers=N`, `--redis=URL`) out of the arguments;
 * the rest goes to the subcommand's own parser. `scale` is undefined when neither is given.
 * @param fail makes the error to throw for a bad value (the CLI's `UsageError`)
 * @example
 * takeScaleFlags(['--port', '5000', '--workers', '4', '--redis', 'redis://127.0.0.1:6379'])
 * // { scale: { workers: 4, redis: 'redis://127.0.0.1:6379' }, rest: ['--port', '5000'] }
 */
export function takeScaleFlags(argv: readonly string[], fail: (message: string) => Error = (m) => new Error(m)): { scale: ScaleFlags | undefined; rest: string[] } {
  const rest: string[] = [];
  let workers: string | undefined;
  let redis: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (name !== '--workers' && name !== '--redis') {
      rest.push(arg);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') throw fail(`${name}: expected a value`);
    if (name === '--workers') workers = value;
    else redis = value;
  }
  if (workers === undefined && redis === undefined) return { scale: undefined, rest };
  if (redis === undefined) throw fail('--workers: needs --redis URL, which joins the workers');
  if (!/^rediss?:\/\//.test(redis)) throw fail(`--redis: expected a redis:// or rediss:// URL, got ${JSON.stringify(redis)}`);
  const count = workers === undefined ? 1 : /^[0-9]{1,4}$/.test(workers) ? Number(workers) : NaN;
  if (!(count >= 1)) throw fail(`--workers: expected a whole number from 1 to 9999, got ${JSON.stringify(workers)}`);
  return { scale: { workers: count, redis }, rest };
}
