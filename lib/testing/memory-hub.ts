import { Messenger, type MessengerOptions } from '../connection/messenger.js';
import { Hub, type HubOptions } from '../hub/hub.js';
import { faultPair, type FaultPairOptions } from './fault-pair.js';
import { socketPair, type SocketPairOptions } from './socket-pair.js';

/** How `connectPeer` makes a connection: the peer's Messenger options, the pair's buffer, and faults. */
export interface MemoryPeerOptions extends MessengerOptions, SocketPairOptions {
  /**
   * Make the connection with `faultPair`: writes split (`chunks`) and delayed (`delayMs`), both
   * ways, with the hub's scheduler unless one is given. Default: a plain `socketPair`.
   */
  readonly faults?: Omit<FaultPairOptions, 'bufferBytes'>;
}

/**
 * A hub whose connections are in memory: test your chains against the real Hub and Messenger
 * without sockets. `connectPeer()` adds a connection and returns its far end.
 *
 * @example
 * const hub = new MemoryHub();
 * const peer = hub.connectPeer();
 * hub.incoming$.subscribe(({ from, header }) => from.send({ info: `echo ${header['info']}` }));
 * await peer.send({ info: 'hi' });
 */
export class MemoryHub extends Hub {
  private readonly peers: Messenger[] = [];
  private nextPeer = 1;

  constructor(options: HubOptions & SocketPairOptions = {}) {
    super(options);
  }

  /**
   * Opens an in-memory connection to this hub; returns the peer's end of it.
   * @example
   * const peer = hub.connectPeer({ faults: { chunks: randomChunks(7, { max: 3 }), delayMs: 5 } });
   */
  connectPeer(options: MemoryPeerOptions = {}): Messenger {
    const { faults, bufferBytes: own, ...messengerOptions } = options;
    const bufferBytes = own ?? (this.options as SocketPairOptions).bufferBytes;
    const [near, far] = faults
      ? faultPair({ scheduler: this.scheduler, ...faults, ...(bufferBytes !== undefined ? { bufferBytes } : {}) })
      : socketPair({ bufferBytes });
    this.adopt(near);
    const peer = new Messenger(far, `peer${this.nextPeer++}`, { scheduler: this.scheduler, ...messengerOptions });
    this.peers.push(peer);
    return peer;
  }

  /** Closes the hub's connections and every peer end it handed out. */
  protected override async shutdown(): Promise<void> {
    await super.shutdown();
    for (const peer of this.peers) peer.close();
    await Promise.all(this.peers.map((peer) => peer.whenSocketClosed()));
  }
}

/** Two Messengers joined in memory, for testing code that talks over one connection. */
export function messengerPair(options: MessengerOptions & SocketPairOptions = {}): [Messenger, Messenger] {
  const [a, b] = socketPair(options);
  return [new Messenger(a, 'a', options), new Messenger(b, 'b', options)];
}
