/**
 * The Redis bridge: joins a hub to the other hubs bridged through the same Redis, so that a
 * broadcast, a multicast or a send reaches connections on every hub exactly once, and every hub
 * sees the connections of all (`clusterConnections$`).
 *
 * Delivery to the hub's own connections is direct, as the hub's own `broadcast` does it; every
 * other hub gets one envelope (see `envelope.ts`) over Redis pub/sub: broadcasts on the cluster
 * channel, sends and multicasts on the channel of the hub that holds the targets. Each envelope
 * carries its origin and a sequence number, so a hub ignores its own and drops repeats, and
 * envelopes from one hub arrive in the order it sent them.
 *
 * Presence: each hub keeps a Redis hash of its connections whose TTL it refreshes every
 * `heartbeatMs`; a crashed hub stops refreshing, its hash expires, and the other hubs drop its
 * connections at their next read. While Redis cannot be reached, local delivery goes on, and the
 * envelopes for other hubs wait in a bounded outbox (overflow counted); the bridge reconnects by
 * itself, writes its presence again, waits briefly for the hubs it knew to subscribe again, and
 * sends what waited, in order.
 */
import { Redis, type RedisOptions } from 'ioredis';
import {
  BehaviorSubject,
  Observable,
  Subject,
  Subscription,
  asyncScheduler,
  defer,
  firstValueFrom,
  from,
  interval,
  lastValueFrom,
  merge,
  of,
  timer,
  toArray,
  type SchedulerLike,
} from 'rxjs';
import { ConnectionClosedError, InvalidOptionError, SendFailedError, UnknownConnectionError } from '../errors.js';
import type { CloseReasonKind } from '../connection/close-reason.js';
import { Messenger, type Target } from '../connection/messenger.js';
import { count } from '../connection/options.js';
import { encodeFrame } from '../protocol/encode.js';
import type { Frame, HeaderInput } from '../protocol/message.js';
import { isOpened, type Hub } from '../hub/hub.js';
import { closeOnFailure, sendEach, type Received, type SendOutcome } from '../hub/operators.js';
import { ClusterView, type ClusterConnection, type ClusterEvent, type PresenceSnapshot } from './cluster-view.js';
import { checkHubId, decodeAddr, decodeEnvelope, decodeMessage, encodeAddr, encodeEnvelope, hubIdOf, type Envelope, type EnvelopeKind } from './envelope.js';
import { Outbox } from './outbox.js';
import { milliseconds } from './options.js';
import { CLOSE_WAIT_MS, backoff, quit, settledWithin } from './redis-client.js';

/** Default Redis URL. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** Default prefix of the bridge's Redis keys and channels. */
export const DEFAULT_NAMESPACE = 'rx-tcp-hub';
/** Default life of a hub's presence entry without a refresh: 15 s. */
export const DEFAULT_PRESENCE_TTL_MS = 15_000;
/** Default number of envelopes the outbox holds while Redis is unreachable. */
export const DEFAULT_OUTBOX_MESSAGES = 10_000;
/** Default number of payload bytes the outbox holds while Redis is unreachable: 64 MiB. */
export const DEFAULT_OUTBOX_BYTES = 64 * 1024 * 1024;
/** Target ids per `deliver` envelope; a larger multicast is split, as a header holds 64 KiB at most. */
const IDS_PER_ENVELOPE = 1000;
/** Field of a presence hash that names the bridge instance, so a hub without connections still has an entry. */
const INSTANCE_FIELD = '@';

export interface RedisBridgeOptions {
  /**
   * This hub's id in the cluster: unique, 1 to 64 letters, digits, `_` or `-`. The hub must be made
   * with `idPrefix: clusterIdPrefix(hubId)` so that its connection ids are unique too.
   */
  readonly hubId: string;
  /** The Redis to join through. Default `redis://127.0.0.1:6379`. */
  readonly url?: string;
  /** More ioredis options (TLS, password, ...); those the bridge relies on are set after these. */
  readonly redisOptions?: RedisOptions;
  /** Prefix of the Redis keys and channels: hubs with the same prefix form one cluster. Default `rx-tcp-hub`. */
  readonly namespace?: string;
  /** How long a hub's presence entry lives without a refresh: a crashed hub's connections leave the view after it. Default 15 s. */
  readonly presenceTtlMs?: number;
  /** How often the entry is refreshed and the cluster view read again in full. Default a third of `presenceTtlMs`. */
  readonly heartbeatMs?: number;
  /** Envelopes held while Redis is unreachable; more are refused and counted in `stats().overflow`. Default 10,000. */
  readonly outboxMessages?: number;
  /** Payload bytes held while Redis is unreachable. Default 64 MiB. */
  readonly outboxBytes?: number;
  /** Longest wait between two reconnection attempts. Default 1000 ms. */
  readonly maxRetryDelayMs?: number;
  /**
   * Publish every message the hub's connections receive, so that `incoming$` on every bridged hub
   * carries the messages of the whole cluster. Each message then crosses Redis. Default false.
   */
  readonly shareIncoming?: boolean;
  /** Clock of the heartbeat and of the waits after a reconnection. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/** The bridge's link to Redis. */
export type BridgeState = 'connecting' | 'online' | 'offline' | 'closed';

/** What became of the part of a send that goes to other hubs. */
export type RemoteDelivery =
  /** Handed to Redis. */
  | 'published'
  /** Waiting in the outbox for Redis to come back. */
  | 'queued'
  /** Refused: the outbox was full (counted in `stats().overflow`), or the bridge is closed. */
  | 'dropped'
  /** No target was on another hub. */
  | 'none';

/** The outcome of a cluster-wide send: each local connection's, and the remote part's. */
export interface BridgeOutcome {
  readonly local: SendOutcome<Messenger>[];
  readonly remote: RemoteDelivery;
}

/** A snapshot of the bridge. */
export interface BridgeStats {
  readonly hubId: string;
  readonly state: BridgeState;
  /** Envelopes handed to Redis. */
  readonly published: number;
  /** Envelopes waiting in the outbox, and their bytes. */
  readonly queued: number;
  readonly queuedBytes: number;
  /** Envelopes refused because the outbox was full. */
  readonly overflow: number;
  /** Envelopes received from other hubs and acted on. */
  readonly received: number;
  /** Envelopes received twice (a publish Redis took, resent after a lost reply), dropped. */
  readonly duplicates: number;
  /** Payloads on the bridge's channels that were no envelope, or messages that could not be shared. */
  readonly invalid: number;
  /** Times the link to Redis came back after it was lost. */
  readonly reconnects: number;
  /** Errors reported by the Redis client (refused connections during an outage, ...). */
  readonly redisErrors: number;
  /** Connections on other hubs, as the view has them now. */
  readonly remoteConnections: number;
}

/** A connection on another hub, usable wherever a `Target` is: `sendEach`, `relayToOthers`, ... */
export class RemoteConnection implements Target {
  constructor(
    private readonly bridge: RedisBridge,
    readonly id: string,
    readonly hubId: string,
  ) {}

  /**
   * Sends the frame to the connection's hub, which writes it to the connection. `done` is called
   * once the envelope is handed to Redis or queued, or with an error when the outbox refused it.
   * @throws ConnectionClosedError when the bridge is closed
   */
  write(frame: Frame, done?: (error?: SendFailedError) => void): void {
    const delivery = this.bridge.deliverFrame(this.hubId, [this.id], frame);
    if (delivery === 'dropped') {
      if (this.bridge.state === 'closed') throw new ConnectionClosedError(this.id);
      const error = new SendFailedError(this.id, new Error('the bridge outbox is full'));
      overflowErrors.add(error);
      done?.(error);
    } else {
      done?.();
    }
  }

  /**
   * Asks the connection's hub to close it. A close asked by `closeOnFailure` because the outbox
   * was full is not sent: the connection did nothing wrong.
   */
  close(_reason?: CloseReasonKind, error?: Error): void {
    if (error && overflowErrors.has(error)) return;
    this.bridge.closeRemote(this.hubId, [this.id]);
  }
}

const overflowErrors = new WeakSet<Error>();

/** A connection anywhere in the cluster: this hub's own, or another's. */
export type ClusterTarget = Messenger | RemoteConnection;

/** A message received anywhere in the cluster, with its sender. */
export type ClusterIncoming = Received<ClusterTarget>;

/**
 * Joins a hub to the cluster of hubs bridged through the same Redis.
 *
 * @example
 * const hubId = newHubId();
 * const server = await Server.listen({ port: 5000, idPrefix: clusterIdPrefix(hubId) });
 * const bridge = await RedisBridge.connect(server, { hubId, url: 'redis://127.0.0.1:6379' });
 * await bridge.broadcast({ info: 'to every connection of every hub' });
 * bridge.clusterConnections$.subscribe((e) => console.log(e.type, e.connection.id));
 */
export class RedisBridge {
  readonly hubId: string;
  /** The hub's connections and those of every other hub: on subscribe an `open` for each known one, then changes. */
  readonly clusterConnections$: Observable<ClusterEvent>;
  /**
   * The hub's `incoming$` merged with the messages received on other hubs (with `shareIncoming`
   * on theirs), whose `from` is a `RemoteConnection`: the same operators apply to both.
   */
  readonly incoming$: Observable<ClusterIncoming>;
  /** The messages other hubs share, alone. */
  readonly remoteIncoming$: Observable<Received<RemoteConnection>>;
  /** The link to Redis: the current state at once, then each change; completes when closed. */
  readonly state$: Observable<BridgeState>;

  private readonly hub: Hub;
  private readonly origin = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  private readonly options: Required<Omit<RedisBridgeOptions, 'redisOptions' | 'url' | 'shareIncoming'>> & { readonly shareIncoming: boolean };
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly keys: { readonly hubs: string; readonly mine: string; readonly all: string; readonly inbox: string };
  private readonly outbox: Outbox;
  private readonly view = new ClusterView();
  private readonly remotes = new Map<string, RemoteConnection>();
  private readonly lastSeq = new Map<string, number>();
  private readonly events = new Subject<ClusterEvent>();
  private readonly remoteIncoming = new Subject<Received<RemoteConnection>>();
  private readonly stateSubject = new BehaviorSubject<BridgeState>('connecting');
  private readonly subscription = new Subscription();
  private seq = 0;
  /**
   * True from the moment the link for publishing is up until the presence is written again: the
   * bridge is not online meanwhile, so new envelopes queue behind those that waited.
   */
  private resyncing = false;
  private subscribed = false;
  private everOnline = false;
  /** Hubs known when the link was lost: given `presenceTtlMs` to write their entry again. */
  private spare = new Set<string>();
  private spareUntil = 0;
  private counts = { published: 0, received: 0, duplicates: 0, invalid: 0, reconnects: 0, redisErrors: 0 };
  private closing: Promise<void> | undefined;

  /**
   * Starts at once: connects to Redis (and keeps reconnecting), follows the hub's connections.
   * `connect` also waits until the bridge is online. The bridge closes when the hub stops.
   * @throws InvalidOptionError for an unusable option
   */
  constructor(hub: Hub, options: RedisBridgeOptions) {
    const hubId = checkHubId(options?.hubId);
    const presenceTtlMs = milliseconds('presenceTtlMs', options.presenceTtlMs, DEFAULT_PRESENCE_TTL_MS);
    this.options = {
      hubId,
      namespace: options.namespace ?? DEFAULT_NAMESPACE,
      presenceTtlMs,
      heartbeatMs: milliseconds('heartbeatMs', options.heartbeatMs, Math.max(1, Math.floor(presenceTtlMs / 3))),
      outboxMessages: count('outboxMessages', options.outboxMessages, DEFAULT_OUTBOX_MESSAGES),
      outboxBytes: count('outboxBytes', options.outboxBytes, DEFAULT_OUTBOX_BYTES),
      maxRetryDelayMs: milliseconds('maxRetryDelayMs', options.maxRetryDelayMs, 1000),
      shareIncoming: options.shareIncoming ?? false,
      scheduler: options.scheduler ?? asyncScheduler,
    };
    if (typeof this.options.namespace !== 'string' || this.options.namespace === '') {
      throw new InvalidOptionError('namespace', options.namespace, 'a non-empty string');
    }
    this.hub = hub;
    this.hubId = hubId;
    const ns = this.options.namespace;
    this.keys = { hubs: `${ns}:hubs`, mine: `${ns}:hub:${hubId}`, all: `${ns}:all`, inbox: `${ns}:to:${hubId}` };
    this.outbox = new Outbox(this.options.outboxMessages, this.options.outboxBytes);

    const redisOptions: RedisOptions = {
      ...options.redisOptions,
      lazyConnect: true,
      // The bridge's own outbox bounds what waits; ioredis only holds what was in flight at a loss.
      maxRetriesPerRequest: null,
      retryStrategy: backoff(this.options.maxRetryDelayMs),
      connectionName: `rx-tcp-hub-${hubId}`,
    };
    const url = options.url ?? DEFAULT_REDIS_URL;
    this.pub = new Redis(url, redisOptions);
    this.sub = new Redis(url, { ...redisOptions, autoResubscribe: true });
    for (const client of [this.pub, this.sub]) client.on('error', () => this.counts.redisErrors++);
    this.pub.on('ready', () => {
      // Not online until the presence is written again: nothing may overtake what waits.
      this.resyncing = true;
      // After ioredis has resent what was in flight (it does so right after 'ready'), not before.
      setImmediate(() => void this.onPubReady());
    });
    this.pub.on('close', () => this.onPubLost());
    this.sub.on('ready', () => this.onSubReady());
    this.sub.on('close', () => this.updateState());
    this.sub.on('messageBuffer', (_channel: Buffer, payload: Buffer) => this.receive(payload));

    this.state$ = this.stateSubject.asObservable();
    this.remoteIncoming$ = this.remoteIncoming.asObservable();
    this.incoming$ = merge(hub.incoming$ as Observable<ClusterIncoming>, this.remoteIncoming$);
    this.clusterConnections$ = defer(() =>
      merge(this.events, from(this.connections.map((connection): ClusterEvent => ({ type: 'open', connection })))),
    );

    this.subscription.add(
      hub.connections$.subscribe({
        next: (event) => (isOpened(event) ? this.localOpened(event.messenger) : this.localClosed(event.messenger)),
        complete: () => void this.close(),
      }),
    );
    if (this.options.shareIncoming) this.subscription.add(hub.incoming$.subscribe((message) => this.share(message)));
    this.subscription.add(interval(this.options.heartbeatMs, this.options.scheduler).subscribe(() => void this.heartbeat()));

    // A first attempt that fails is retried by ioredis like any lost connection.
    this.pub.connect().catch(() => {});
    this.sub.connect().catch(() => {});
  }

  /**
   * A bridge for the hub, once online (presence written, channels subscribed).
   * @throws (rejects) InvalidOptionError; an Error when Redis stays unreachable for `timeoutMs` (default 10 s; the bridge is closed then)
   */
  static async connect(hub: Hub, options: RedisBridgeOptions & { readonly timeoutMs?: number }): Promise<RedisBridge> {
    const bridge = new RedisBridge(hub, options);
    try {
      await bridge.online(options.timeoutMs ?? 10_000);
    } catch (error) {
      await bridge.close();
      throw error;
    }
    return bridge;
  }

  /** Resolves once the bridge is online; rejects after `timeoutMs` or when it closes first. */
  online(timeoutMs = 10_000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timeout = setTimeout(() => {
        subscription.unsubscribe();
        reject(new Error(`the Redis bridge of hub ${this.hubId} was not online within ${timeoutMs} ms`));
      }, timeoutMs);
      const subscription = this.state$.subscribe((state) => {
        if (state !== 'online' && state !== 'closed') return;
        clearTimeout(timeout);
        queueMicrotask(() => subscription.unsubscribe());
        if (state === 'online') resolve();
        else reject(new Error(`the Redis bridge of hub ${this.hubId} is closed`));
      });
    });
  }

  /** The link to Redis now. */
  get state(): BridgeState {
    return this.stateSubject.value;
  }

  /** Every connection of the cluster as known now: this hub's first, then the others'. */
  get connections(): ClusterConnection[] {
    const local = this.hub.messengers.map((m): ClusterConnection => ({ id: m.id, hubId: this.hubId, local: true, addr: m.addr }));
    return [...local, ...this.view.connections];
  }

  /** Every connection of the cluster as a target: this hub's Messengers, then `RemoteConnection`s. */
  get targets(): ClusterTarget[] {
    return [...this.hub.messengers, ...this.view.connections.map((c) => this.remote(c.id, c.hubId))];
  }

  /** A connection anywhere in the cluster by id: a Messenger of this hub, or a `RemoteConnection` when another hub has it in view. */
  get(id: string): ClusterTarget | undefined {
    const local = this.local(id);
    if (local) return local;
    const known = this.view.get(id);
    return known ? this.remote(id, known.hubId) : undefined;
  }

  /** A snapshot of the bridge's counters and state. */
  stats(): BridgeStats {
    return {
      hubId: this.hubId,
      state: this.state,
      ...this.counts,
      queued: this.outbox.length,
      queuedBytes: this.outbox.queuedBytes,
      overflow: this.outbox.overflow,
      remoteConnections: this.view.connections.length,
    };
  }

  /**
   * Sends to every connection of every bridged hub: this hub's directly (a failed send closes its
   * connection, as `hub.broadcast` does), the others' through one envelope.
   * @throws (rejects) FrameEncodeError, with nothing sent
   */
  async broadcast(header: HeaderInput, content?: Uint8Array): Promise<BridgeOutcome> {
    const frame = encodeFrame(header, content);
    const remote = this.publish(this.keys.all, this.envelope('broadcast', { frame: joinFrame(frame) }), true);
    return { local: await this.writeLocal(this.hub.messengers, frame), remote };
  }

  /**
   * Sends to the named connections, wherever they are: ids, Messengers or `RemoteConnection`s.
   * An id is routed to the hub it names (`<hubId>.c<n>`), known to the view or not.
   * @throws (rejects) FrameEncodeError; UnknownConnectionError for an id of this hub that is not live, or that names no hub, before anything is sent
   */
  async multicast(refs: Iterable<string | ClusterTarget>, header: HeaderInput, content?: Uint8Array): Promise<BridgeOutcome> {
    const local: Messenger[] = [];
    const byHub = new Map<string, string[]>();
    for (const ref of refs) {
      if (ref instanceof Messenger) {
        local.push(ref);
        continue;
      }
      const id = typeof ref === 'string' ? ref : ref.id;
      const hubId = ref instanceof RemoteConnection ? ref.hubId : (hubIdOf(id) ?? this.view.get(id)?.hubId);
      if (hubId === this.hubId || hubId === undefined) {
        const messenger = this.local(id);
        if (!messenger) throw new UnknownConnectionError(id);
        local.push(messenger);
      } else {
        byHub.set(hubId, [...(byHub.get(hubId) ?? []), id]);
      }
    }
    const frame = encodeFrame(header, content);
    let remote: RemoteDelivery = 'none';
    for (const [hubId, ids] of byHub) remote = worse(remote, this.deliverFrame(hubId, ids, frame));
    return { local: await this.writeLocal(local, frame), remote };
  }

  /**
   * Sends to one connection, wherever it is.
   * @throws (rejects) as `multicast`
   */
  send(id: string | ClusterTarget, header: HeaderInput, content?: Uint8Array): Promise<BridgeOutcome> {
    return this.multicast([id], header, content);
  }

  /** For `RemoteConnection`: one frame to connections of one other hub. */
  deliverFrame(hubId: string, ids: readonly string[], frame: Frame): RemoteDelivery {
    const bytes = joinFrame(frame);
    let delivery: RemoteDelivery = 'none';
    for (let i = 0; i < ids.length; i += IDS_PER_ENVELOPE) {
      const to = ids.slice(i, i + IDS_PER_ENVELOPE);
      delivery = worse(delivery, this.publish(this.inboxOf(hubId), this.envelope('deliver', { to, frame: bytes }), true));
    }
    return delivery;
  }

  /** For `RemoteConnection`: asks another hub to close connections of its own. */
  closeRemote(hubId: string, ids: readonly string[]): RemoteDelivery {
    return this.publish(this.inboxOf(hubId), this.envelope('close', { to: ids }), true);
  }

  /**
   * Leaves the cluster: sends what the outbox holds if Redis is there, removes this hub's presence
   * (the other hubs drop its connections at once), and disconnects. The hub keeps running.
   * Called by itself when the hub stops.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.subscription.unsubscribe();
      this.stateSubject.next('closed');
      this.stateSubject.complete();
      if (this.pub.status === 'ready') {
        this.flush();
        // Bounded: if Redis goes away meanwhile, the entry expires by itself.
        await settledWithin(
          this.pub
            .multi()
            .del(this.keys.mine)
            .srem(this.keys.hubs, this.hubId)
            .exec()
            .then(() => this.pub.publish(this.keys.all, this.envelope('bye', {}))),
          CLOSE_WAIT_MS,
        );
      }
      await Promise.all([quit(this.sub), quit(this.pub)]);
      this.events.complete();
      this.remoteIncoming.complete();
    })();
    return this.closing;
  }

  private envelope(kind: EnvelopeKind, fields: Partial<Envelope>): Buffer {
    return encodeEnvelope({ kind, origin: this.origin, hub: this.hubId, seq: ++this.seq, ...fields });
  }

  private inboxOf(hubId: string): string {
    return `${this.options.namespace}:to:${hubId}`;
  }

  /**
   * Hands an envelope to Redis when it can take it and nothing waits before it; else queues it
   * (when `queue`) or drops it (presence news, which the next write of the presence replaces).
   */
  private publish(channel: string, payload: Buffer, queue: boolean): RemoteDelivery {
    if (this.closing) return 'dropped';
    // Only when both links are up: one that is down means Redis may be gone, and the other may not know yet.
    if (this.state === 'online' && this.pub.status === 'ready' && this.outbox.length === 0) {
      this.hand(channel, payload);
      return 'published';
    }
    if (!queue) return 'dropped';
    return this.outbox.push({ channel, payload }) ? 'queued' : 'dropped';
  }

  private flush(): void {
    for (const { channel, payload } of this.outbox.drain()) this.hand(channel, payload);
  }

  /** Hands one envelope to ioredis, which keeps the order of all it is given. */
  private hand(channel: string, payload: Buffer): void {
    this.pub.publish(channel, payload).then(
      () => this.counts.published++,
      () => this.counts.redisErrors++,
    );
  }

  private writeLocal(targets: Messenger[], frame: Frame): Promise<SendOutcome<Messenger>[]> {
    if (targets.length === 0) return Promise.resolve([]);
    return lastValueFrom(of({ targets, header: {}, frame }).pipe(sendEach<Messenger>(), closeOnFailure(), toArray()));
  }

  private local(id: string): Messenger | undefined {
    const messenger = this.hub.get(id);
    // hub.get also takes an index ("3"): only an exact id counts here.
    return messenger?.id === id ? messenger : undefined;
  }

  /** The target of a remote id: one object per connection while the view has it (dropped at its close). */
  private remote(id: string, hubId: string): RemoteConnection {
    let remote = this.remotes.get(id);
    if (remote) return remote;
    remote = new RemoteConnection(this, id, hubId);
    if (this.view.get(id)) this.remotes.set(id, remote);
    return remote;
  }

  private emit(events: readonly (ClusterEvent | undefined)[]): void {
    for (const event of events) {
      if (!event) continue;
      if (event.type === 'close') this.remotes.delete(event.connection.id);
      this.events.next(event);
    }
  }

  private localOpened(messenger: Messenger): void {
    if (this.pub.status === 'ready' && !this.resyncing) {
      this.pub.multi().hset(this.keys.mine, messenger.id, encodeAddr(messenger.addr)).pexpire(this.keys.mine, this.options.presenceTtlMs).exec().catch(() => {});
    }
    this.publish(this.keys.all, this.envelope('joined', { id: messenger.id, addr: encodeAddr(messenger.addr) }), false);
    this.events.next({ type: 'open', connection: { id: messenger.id, hubId: this.hubId, local: true, addr: messenger.addr } });
  }

  private localClosed(messenger: Messenger): void {
    if (this.pub.status === 'ready' && !this.resyncing) this.pub.hdel(this.keys.mine, messenger.id).catch(() => {});
    this.publish(this.keys.all, this.envelope('left', { id: messenger.id }), false);
    this.events.next({ type: 'close', connection: { id: messenger.id, hubId: this.hubId, local: true, addr: messenger.addr }, reason: 'closed' });
  }

  private share(message: Received<Messenger>): void {
    let frame: Frame;
    try {
      frame = encodeFrame(message.header, message.content);
    } catch {
      // A received header value may hold ":", which the encoder refuses: such a message stays local.
      this.counts.invalid++;
      return;
    }
    this.publish(this.keys.all, this.envelope('incoming', { id: message.from.id, frame: joinFrame(frame) }), true);
  }

  private receive(payload: Buffer): void {
    const envelope = decodeEnvelope(payload);
    if (envelope instanceof Error) {
      this.counts.invalid++;
      return;
    }
    if (envelope.origin === this.origin || this.closing) return;
    if (envelope.seq <= (this.lastSeq.get(envelope.origin) ?? 0)) {
      this.counts.duplicates++;
      return;
    }
    this.lastSeq.set(envelope.origin, envelope.seq);
    this.counts.received++;
    const { kind, hub, frame, to = [], id = '' } = envelope;
    switch (kind) {
      case 'broadcast':
        if (frame) void this.writeLocal(this.hub.messengers, [frame]);
        break;
      case 'deliver': {
        const targets = to.map((target) => this.local(target)).filter((m): m is Messenger => m !== undefined);
        if (frame) void this.writeLocal(targets, [frame]);
        break;
      }
      case 'close':
        for (const target of to) this.local(target)?.close();
        break;
      case 'incoming':
        if (frame) this.remoteIncoming.next({ ...decodeMessage(frame), from: this.remote(id, hub) });
        break;
      case 'joined':
        this.emit([this.view.add({ id, hubId: hub, local: false, addr: decodeAddr(envelope.addr) })]);
        break;
      case 'left':
        this.emit([this.view.remove(id, 'closed')]);
        break;
      case 'sync':
        void this.readCluster();
        break;
      case 'bye':
        this.lastSeq.delete(envelope.origin);
        this.emit(this.view.removeHub(hub, 'hub-stopped'));
        break;
    }
  }

  /** The link for publishing is up: write the presence again, wait for the others, send what waited. */
  private async onPubReady(): Promise<void> {
    if (this.closing || this.pub.status !== 'ready') {
      this.resyncing = false;
      return;
    }
    const reconnected = this.everOnline;
    this.everOnline = true;
    try {
      await this.writePresence();
      if (reconnected) {
        this.counts.reconnects++;
        await this.awaitSubscribers(this.spare.size + 1);
      }
    } catch {
      // Lost again meanwhile: the next 'ready' starts over, and the outbox still holds everything.
      return;
    } finally {
      this.resyncing = false;
    }
    if (this.pub.status !== 'ready' || this.closing) return;
    this.updateState();
    // Behind what waited: sequence numbers must reach the other hubs in order.
    this.publish(this.keys.all, this.envelope('sync', {}), true);
    void this.readCluster();
  }

  private onPubLost(): void {
    this.updateState();
  }

  private onSubReady(): void {
    if (!this.subscribed) {
      // Once subscribed, ioredis subscribes again by itself after each reconnection.
      this.sub.subscribe(this.keys.all, this.keys.inbox).then(
        () => {
          this.subscribed = true;
          this.updateState();
        },
        () => {},
      );
      return;
    }
    this.updateState();
    // Envelopes sent while this side was away are lost (pub/sub keeps nothing): read presence again.
    if (this.everOnline) void this.readCluster();
  }

  private updateState(): void {
    if (this.closing) return;
    const online = this.pub.status === 'ready' && this.sub.status === 'ready' && this.subscribed && !this.resyncing && this.everOnline;
    const next: BridgeState = online ? 'online' : this.everOnline ? 'offline' : 'connecting';
    // What waited goes first, before anything sent from now on.
    if (online) this.flush();
    if (next === this.state) return;
    if (this.state === 'online') {
      // The hubs known now are given time to come back and write their presence again.
      this.spare = this.view.hubs;
      this.spareUntil = this.options.scheduler.now() + this.options.presenceTtlMs;
    }
    this.stateSubject.next(next);
  }

  /** This hub's presence entry, written whole: the instance field and every live connection. */
  private async writePresence(): Promise<void> {
    const fields: string[] = [INSTANCE_FIELD, this.origin];
    for (const m of this.hub.messengers) fields.push(m.id, encodeAddr(m.addr));
    await this.pub
      .multi()
      .del(this.keys.mine)
      .hset(this.keys.mine, ...fields)
      .pexpire(this.keys.mine, this.options.presenceTtlMs)
      .sadd(this.keys.hubs, this.hubId)
      .exec();
  }

  /**
   * Waits until `expected` subscribers listen on the cluster channel, at most one heartbeat and two
   * reconnection delays: the other hubs reconnect on their own schedules, and pub/sub keeps nothing
   * for a hub not subscribed yet. A hub that died meanwhile costs the whole wait, once.
   */
  private async awaitSubscribers(expected: number): Promise<void> {
    const { scheduler, heartbeatMs, maxRetryDelayMs } = this.options;
    const deadline = scheduler.now() + heartbeatMs + 2 * maxRetryDelayMs;
    while (scheduler.now() < deadline && this.pub.status === 'ready') {
      const reply = (await this.pub.pubsub('NUMSUB', this.keys.all)) as [string, number];
      if (Number(reply[1]) >= expected) return;
      await firstValueFrom(timer(25, scheduler));
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.pub.status !== 'ready' || this.resyncing || this.closing) return;
    try {
      const refreshed = await this.pub.pexpire(this.keys.mine, this.options.presenceTtlMs);
      // The entry is gone (Redis restarted, or this process stalled past the TTL): write it whole.
      if (refreshed === 0) await this.writePresence();
      else await this.pub.sadd(this.keys.hubs, this.hubId);
    } catch {
      return;
    }
    await this.readCluster();
  }

  /** Reads every hub's presence entry and brings the view to it. */
  private async readCluster(): Promise<void> {
    if (this.pub.status !== 'ready' || this.closing) return;
    const epoch = this.view.begin();
    const snapshot = new Map<string, Map<string, ClusterConnection['addr']>>();
    const gone: string[] = [];
    try {
      const hubs = (await this.pub.smembers(this.keys.hubs)).filter((h) => h !== this.hubId);
      const pipeline = this.pub.pipeline();
      for (const hubId of hubs) pipeline.hgetall(`${this.options.namespace}:hub:${hubId}`);
      const replies = hubs.length > 0 ? ((await pipeline.exec()) ?? []) : [];
      hubs.forEach((hubId, i) => {
        const [error, entry] = replies[i] ?? [new Error('no reply'), undefined];
        if (error) throw error;
        const fields = entry as Record<string, string>;
        if (Object.keys(fields).length === 0) {
          gone.push(hubId);
          return;
        }
        const ids = new Map<string, ClusterConnection['addr']>();
        for (const [id, addr] of Object.entries(fields)) if (id !== INSTANCE_FIELD) ids.set(id, decodeAddr(addr));
        snapshot.set(hubId, ids);
      });
    } catch {
      return; // Redis went away during the read: the next heartbeat reads again
    }
    if (this.closing) return;
    if (gone.length > 0) this.pub.srem(this.keys.hubs, ...gone).catch(() => {});
    const spare = this.options.scheduler.now() < this.spareUntil ? this.spare : new Set<string>();
    this.emit(this.view.reconcile(snapshot as PresenceSnapshot, epoch, spare));
  }
}

function joinFrame(frame: Frame): Buffer {
  return frame.length === 1 ? frame[0]! : Buffer.concat(frame as Buffer[]);
}

/** The less good of two deliveries: dropped, then queued, then published, then none. */
function worse(a: RemoteDelivery, b: RemoteDelivery): RemoteDelivery {
  const rank: Record<RemoteDelivery, number> = { none: 0, published: 1, queued: 2, dropped: 3 };
  return rank[a] >= rank[b] ? a : b;
}
