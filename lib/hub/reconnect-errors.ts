/**
 * The errors of reconnecting connections (`reconnect`, `Client.dial`). They extend the library's
 * `RxTcpHubError`, with stable codes; they will join `errors.ts` and its `ErrorCode` table.
 */
import { RxTcpHubError, type ErrorCode } from '../errors.js';
import type { CloseReason } from '../connection/close-reason.js';

/** Stable codes of the errors in this file. */
export const ReconnectErrorCode = {
  /** A send on a dialled connection while it is down, with no queue configured. */
  NotConnected: 'ERR_NOT_CONNECTED',
  /** A send while down would pass the bounds of `queueWhileDown`; nothing was queued. */
  OfflineQueueFull: 'ERR_OFFLINE_QUEUE_FULL',
  /** An open connection closed; `reconnect` dials again unless it gives up. */
  ConnectionLost: 'ERR_CONNECTION_LOST',
} as const;

export type ReconnectErrorCode = (typeof ReconnectErrorCode)[keyof typeof ReconnectErrorCode];

// The base class takes only codes of `ErrorCode`; these are added to it when this file moves there.
const code = (value: ReconnectErrorCode): ErrorCode => value as unknown as ErrorCode;

/** A send on a dialled connection that is down (connecting or retrying), with no queue configured. */
export class NotConnectedError extends RxTcpHubError {
  /** The dialled address, `host:port`. */
  readonly address: string;
  /** What the connection was doing: `connecting` or `retrying`. */
  readonly state: string;

  constructor(address: string, state: string) {
    super(code(ReconnectErrorCode.NotConnected), `${address} is not connected (${state}); nothing was sent`);
    this.address = address;
    this.state = state;
  }
}

/** A send while down that would pass `queueWhileDown.maxMessages` or `maxBytes`; nothing was queued. */
export class OfflineQueueFullError extends RxTcpHubError {
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly frameBytes: number;

  constructor(address: string, queuedMessages: number, queuedBytes: number, frameBytes: number, limits: { maxMessages: number; maxBytes: number }) {
    super(
      code(ReconnectErrorCode.OfflineQueueFull),
      `${address} is down and its queue is full (${queuedMessages} messages, ${queuedBytes} bytes queued + ${frameBytes} bytes frame; ` +
        `maxMessages ${limits.maxMessages}, maxBytes ${limits.maxBytes})`,
    );
    this.queuedMessages = queuedMessages;
    this.queuedBytes = queuedBytes;
    this.frameBytes = frameBytes;
  }
}

/** An open connection closed. `reason` is its close reason; the reason's error, if any, is the `cause`. */
export class ConnectionLostError extends RxTcpHubError {
  readonly id: string;
  readonly reason: CloseReason;

  constructor(id: string, reason: CloseReason) {
    super(code(ReconnectErrorCode.ConnectionLost), `connection ${id} was lost (${reason.reason}${reason.error ? `: ${reason.error.message}` : ''})`, {
      cause: reason.error,
    });
    this.id = id;
    this.reason = reason;
  }
}
