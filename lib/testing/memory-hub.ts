import { Messenger, type MessengerOptions } from '../connection/messenger.js';
import { Hub, type HubOptions } from '../hub/hub.js';
import { socketPair, type SocketPairOptions } from './socket-pair.js';

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

  /** Opens an in-memory connection to this hub; returns the peer's end of it. */
  connectPeer(options: MessengerOptions & SocketPairOptions = {}): Messenger {
    const [near, far] = socketPair({ bufferBytes: options.bufferBytes ?? (this.options as SocketPairOptions).bufferBytes });
    this.adopt(near);
    const peer = new Messenger(far, `peer${this.nextPeer++}`, { scheduler: this.scheduler, ...options });
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
