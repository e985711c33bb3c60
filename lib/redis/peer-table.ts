/**
 * The trackers' shared peer table on Redis (the filer at scale). Each peer is a field of one hash
 * (its entry and the tracker it reported to), with two sorted sets: when each entry expires, and
 * when each peer first joined (the broadcast order). Every change runs as one Lua script that
 * reads the clock of Redis itself, so trackers on machines whose clocks differ still agree on
 * expiry. A tracker keeps a snapshot of the table, read again every `refreshMs`, for its
 * broadcasts; a read also drops the expired entries, whichever tracker they reported to.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { Subscription, asyncScheduler, interval, type SchedulerLike } from 'rxjs';
import { DEFAULT_EXPIRE_MS, DEFAULT_REPORT_INTERVAL_MS } from '../filer/tracker.js';
import type { SharedPeerTable } from '../filer/shared-table.js';
import type { PeerEntry } from '../filer/vocabulary.js';
import { DEFAULT_NAMESPACE, DEFAULT_REDIS_URL } from './bridge.js';
import { milliseconds } from './options.js';
import { backoff, quit } from './redis-client.js';

export interface RedisPeerTableOptions {
  /** The Redis the trackers share. Default `redis://127.0.0.1:6379`. */
  readonly url?: string;
  /** More ioredis options (TLS, password, ...). */
  readonly redisOptions?: RedisOptions;
  /** Prefix of the keys: trackers with the same prefix share one table. Default `rx-tcp-hub`. */
  readonly namespace?: string;
  /** This tracker's name in the table, so that a close here removes only what reported here. Default: random. */
  readonly trackerId?: string;
  /** An entry leaves the table when no tracker had a report of its peer for this long. Default 6000 ms, as a tracker. */
  readonly expireMs?: number;
  /** How often the snapshot is read again. Default 2000 ms, a tracker's broadcast interval. */
  readonly refreshMs?: number;
  /** Clock of the refreshes. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;
/** KEYS: entries, expiries, joins. ARGV: id, entry JSON, expireMs. */
const REPORT = `${NOW}redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
redis.call('ZADD', KEYS[3], 'NX', now, ARGV[1])
return 1`;
/** KEYS: entries, expiries, joins. ARGV: id, tracker id. */
const REMOVE = `local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry or cjson.decode(entry).tracker ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1`;
/** KEYS: entries, expiries, joins. Drops the expired entries, then lists the others in join order. */
const LIST = `${NOW}local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(gone) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[3], id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  local entry = redis.call('HGET', KEYS[1], id)
  if entry then out[#out + 1] = entry end
end
return out`;

/**
 * A peer table that several trackers share through Redis.
 *
 * @example
 * const shared = await RedisPeerTable.connect({ url: 'redis://10.0.0.5:6379' });
 * const tracker = await Tracker.listen({ host: '0.0.0.0', port: 5000, shared });
 * // later
 * await tracker.stop();
 * await shared.close();
 */
export class RedisPeerTable implements SharedPeerTable {
  readonly trackerId: string;
  /** Writes and reads that failed (Redis unreachable); the snapshot is kept until a read succeeds. */
  failures = 0;
  private readonly redis: Redis;
  private readonly keys: readonly [string, string, string];
  private readonly expireMs: number;
  private readonly subscription = new Subscription();
  private snapshot: readonly PeerEntry[] = [];
  private closed = false;

  /** Starts at once: connects (and keeps reconnecting), reads the table every `refreshMs`. */
  constructor(options: RedisPeerTableOptions = {}) {
    this.expireMs = milliseconds('expireMs', options.expireMs, DEFAULT_EXPIRE_MS);
    const refreshMs = milliseconds('refreshMs', options.refreshMs, DEFAULT_REPORT_INTERVAL_MS);
    const ns = options.namespace ?? DEFAULT_NAMESPACE;
    this.trackerId = options.trackerId ?? `t${Math.random().toString(36).slice(2, 10)}`;
    this.keys = [`${ns}:peers`, `${ns}:peers:expiry`, `${ns}:peers:joined`];
    this.redis = new Redis(options.url ?? DEFAULT_REDIS_URL, {
      ...options.redisOptions,
      lazyConnect: true,
      // Reports are refreshed every interval: one lost while Redis is away is replaced by the next.
      enableOfflineQueue: false,
      retryStrategy: backoff(1000),
    });
    this.redis.on('error', () => this.failures++);
    this.redis.on('ready', () => void this.refresh());
    this.redis.connect().catch(() => {});
    this.subscription.add(interval(refreshMs, options.scheduler ?? asyncScheduler).subscribe(() => void this.refresh()));
  }

  /**
   * A table connected to Redis, its first snapshot read.
   * @throws (rejects) when Redis cannot be reached within `timeoutMs` (default 10 s)
   */
  static async connect(options: RedisPeerTableOptions & { readonly timeoutMs?: number } = {}): Promise<RedisPeerTable> {
    const table = new RedisPeerTable(options);
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    while (table.redis.status !== 'ready') {
      if (Date.now() > deadline) {
        await table.close();
        throw new Error(`Redis at ${options.url ?? DEFAULT_REDIS_URL} was not reachable within ${options.timeoutMs ?? 10_000} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await table.refresh();
    return table;
  }

  report(peer: PeerEntry): void {
    const entry = JSON.stringify({ id: peer.id, host: peer.host, port: peer.port, tracker: this.trackerId });
    this.run(REPORT, [peer.id, entry, String(this.expireMs)]).catch(() => this.failures++);
  }

  remove(id: string): void {
    this.run(REMOVE, [id, this.trackerId]).catch(() => this.failures++);
  }

  entries(): readonly PeerEntry[] {
    return this.snapshot;
  }

  /** Reads the table now (dropping expired entries); resolves with the new snapshot, or the old one if Redis is away. */
  async refresh(): Promise<readonly PeerEntry[]> {
    if (this.closed || this.redis.status !== 'ready') return this.snapshot;
    try {
      const rows = (await this.run(LIST, [])) as string[];
      this.snapshot = rows.map((row) => {
        const { id, host, port } = JSON.parse(row) as PeerEntry;
        return Object.freeze({ id, host, port });
      });
    } catch {
      this.failures++;
    }
    return this.snapshot;
  }

  /** Stops reading and disconnects. The entries stay, and expire by themselves. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscription.unsubscribe();
    await quit(this.redis);
  }

  private run(script: string, args: string[]): Promise<unknown> {
    if (this.closed) return Promise.resolve(undefined);
    return this.redis.eval(script, this.keys.length, ...this.keys, ...args);
  }
}
