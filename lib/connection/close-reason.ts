/** Why a connection closed: exactly one of these is emitted by each `Messenger.closed$`. */

export const CloseReasonKind = {
  /** Closed by this side: `close()`, or the hub's `stop()`. */
  Local: 'local',
  /** The peer closed its side cleanly (FIN). */
  PeerClosed: 'peer-closed',
  /** The socket failed: reset by the peer, broken pipe, or another socket error (see `error`). */
  Reset: 'reset',
  /** The peer broke the wire format; `error` is the `ProtocolError`. */
  ProtocolError: 'protocol-error',
  /** A send with failure-close failed; `error` says why. */
  SendFailed: 'send-failed',
  /**
   * The outbound queue was full (`maxQueueBytes`) for a send with failure-close, or for any send
   * with `onQueueFull: 'close'`: the peer does not read fast enough.
   */
  SlowConsumer: 'slow-consumer',
  /**
   * The hub's bytes of partly received frames passed `maxInboundBytesTotal`, and this connection
   * held the most of them.
   */
  InboundBudget: 'inbound-budget',
  /** Nothing arrived for `idleTimeoutMs`. */
  IdleTimeout: 'idle-timeout',
  /** A frame was started and not finished within `frameTimeoutMs` (a slowloris peer). */
  FrameTimeout: 'frame-timeout',
  /** No whole message arrived within `firstMessageTimeoutMs` of the connection opening. */
  FirstMessageTimeout: 'first-message-timeout',
  /** The first message did not pass the hub's `authenticate` hook (false, or it threw). */
  AuthFailed: 'auth-failed',
  /** The first message did not arrive, or was not judged, within `authTimeoutMs`. */
  AuthTimeout: 'auth-timeout',
  /** Refused at once: the hub already had `maxConnections` connections. */
  MaxConnections: 'max-connections',
} as const;

export type CloseReasonKind = (typeof CloseReasonKind)[keyof typeof CloseReasonKind];

/** The one close event of a connection. */
export interface CloseReason {
  readonly reason: CloseReasonKind;
  /** The error behind a close that was not clean. */
  readonly error?: Error;
}

/** Where a connection's other end is. In-memory connections use the host `memory`. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

export function formatAddress(addr: Address): string {
  return addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}
