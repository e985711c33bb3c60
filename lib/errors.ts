/**
 * Every error rx-tcp-hub raises is made here, so that its class, its stable `code` and its message
 * always go together. Codes never change once released; the README lists them.
 */
import type { CloseReason } from './connection/close-reason.js';

/** Stable codes of every error rx-tcp-hub raises. */
export const ErrorCode = {
  /** A header key is empty, is `CL`, or holds `:` or `;`. */
  HeaderKeyInvalid: 'ERR_HEADER_KEY_INVALID',
  /** A header value is not a string or a safe integer, or holds `:` or `;`. */
  HeaderValueInvalid: 'ERR_HEADER_VALUE_INVALID',
  /** The header text is longer than 65,535 bytes. */
  HeaderTooLarge: 'ERR_HEADER_TOO_LARGE',
  /** Content given to send is not bytes (`Uint8Array` or `Buffer`). */
  ContentInvalid: 'ERR_CONTENT_INVALID',
  /** A frame announces (or a send carries) more content than the configured maximum. */
  ContentTooLarge: 'ERR_CONTENT_TOO_LARGE',
  /** The header text received is not valid UTF-8. */
  InvalidUtf8: 'ERR_INVALID_UTF8',
  /** A received header pair has no `:`. */
  MalformedPair: 'ERR_MALFORMED_PAIR',
  /** A received header has no `CL` pair. */
  ContentLengthMissing: 'ERR_CL_MISSING',
  /** A received header has more than one `CL` pair. */
  ContentLengthRepeated: 'ERR_CL_REPEATED',
  /** A received `CL` value is not a decimal number. */
  ContentLengthInvalid: 'ERR_CL_INVALID',
  /** The peer closed the connection in the middle of a frame. */
  TruncatedFrame: 'ERR_TRUNCATED_FRAME',
  /** The connection is closed: nothing more can be sent on it. */
  ConnectionClosed: 'ERR_CONNECTION_CLOSED',
  /** The connection's outbound queue would pass its limit (`maxQueueBytes`). */
  QueueFull: 'ERR_QUEUE_FULL',
  /** The hub's queued bytes over all connections would pass `maxQueuedBytesTotal`. */
  HubQueueFull: 'ERR_HUB_QUEUE_FULL',
  /** The hub's bytes of partly received frames over all connections would pass `maxInboundBytesTotal`. */
  InboundBudget: 'ERR_INBOUND_BUDGET',
  /** A connection's queued bytes made no progress into the kernel for `writeTimeoutMs`. */
  WriteTimeout: 'ERR_WRITE_TIMEOUT',
  /** The socket failed while writing the frame. */
  SendFailed: 'ERR_SEND_FAILED',
  /** Handling the bytes a connection received failed (an allocation, say): that connection closed. */
  ReceiveFailed: 'ERR_RECEIVE_FAILED',
  /** An outgoing connection could not be opened. */
  ConnectFailed: 'ERR_CONNECT_FAILED',
  /** A target given to send or multicast is not a live connection of this hub. */
  UnknownConnection: 'ERR_UNKNOWN_CONNECTION',
  /** The hub has been stopped. */
  HubStopped: 'ERR_HUB_STOPPED',
  /** An option passed to a constructor or a function has an unusable value. */
  InvalidOption: 'ERR_INVALID_OPTION',
  /** Nothing was received on the connection for `idleTimeoutMs`. */
  IdleTimeout: 'ERR_IDLE_TIMEOUT',
  /** A frame was started and not finished within `frameTimeoutMs`. */
  FrameTimeout: 'ERR_FRAME_TIMEOUT',
  /** No whole message arrived within `firstMessageTimeoutMs` of the connection opening. */
  FirstMessageTimeout: 'ERR_FIRST_MESSAGE_TIMEOUT',
  /** The first message did not pass the hub's `authenticate` hook. */
  AuthFailed: 'ERR_AUTH_FAILED',
  /** No first message passed the `authenticate` hook within `authTimeoutMs`. */
  AuthTimeout: 'ERR_AUTH_TIMEOUT',
  /** A connection was refused because the hub already had `maxConnections`. */
  TooManyConnections: 'ERR_TOO_MANY_CONNECTIONS',
  /** A TLS client did not finish its handshake within the server's `handshakeTimeoutMs`. */
  HandshakeTimeout: 'ERR_HANDSHAKE_TIMEOUT',
  /** A file name would leave the shared or downloads folder, or is not a plain file name. */
  TransferNameInvalid: 'ERR_TRANSFER_NAME_INVALID',
  /** A file is larger than the transfer size limit (`maxFileBytes`). */
  TransferTooLarge: 'ERR_TRANSFER_TOO_LARGE',
  /** The file asked for is not in the shared folder (or is not a regular file). */
  TransferNotFound: 'ERR_TRANSFER_NOT_FOUND',
  /** A file of that name already exists in the downloads folder. */
  TransferExists: 'ERR_TRANSFER_EXISTS',
  /** Another transfer is writing that name, or too many transfers are active. */
  TransferBusy: 'ERR_TRANSFER_BUSY',
  /** The SHA-256 of the received file differs from the sender's: nothing was published. */
  TransferChecksum: 'ERR_TRANSFER_CHECKSUM',
  /** The transfer was cancelled, by this side or by the peer. */
  TransferCancelled: 'ERR_TRANSFER_CANCELLED',
  /** The connection closed during the transfer; a `get` of the same file resumes it. */
  TransferInterrupted: 'ERR_TRANSFER_INTERRUPTED',
  /** The peer sent a transfer message that breaks the transfer vocabulary. */
  TransferProtocol: 'ERR_TRANSFER_PROTOCOL',
  /** Reading or writing a file failed. */
  TransferIo: 'ERR_TRANSFER_IO',
  /** The peer did not answer a transfer request in time. */
  TransferTimeout: 'ERR_TRANSFER_TIMEOUT',
  /** A send on a dialled connection while it is down, with no queue configured. */
  NotConnected: 'ERR_NOT_CONNECTED',
  /** A send while down would pass the bounds of `queueWhileDown`; nothing was queued. */
  OfflineQueueFull: 'ERR_OFFLINE_QUEUE_FULL',
  /** An open dialled connection closed; `reconnect` dials again unless it gives up. */
  ConnectionLost: 'ERR_CONNECTION_LOST',
  /** A filer peer named by an ID that is not in the address book, nor an open connection, nor `host:port`. */
  UnknownPeer: 'ERR_UNKNOWN_PEER',
  /** Every port a filer peer may listen on, from its start port on, is taken. */
  PortsInUse: 'ERR_PORTS_IN_USE',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every error rx-tcp-hub raises; `code` is stable, `message` is for people. */
export class RxTcpHubError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A message could not be encoded: the original decoder could not read it back. Nothing was written. */
export class FrameEncodeError extends RxTcpHubError {}

/** The bytes received break the wire format. Closes only the connection that sent them. */
export class ProtocolError extends RxTcpHubError {}

/** A send on a connection that is already closed. */
export class ConnectionClosedError extends RxTcpHubError {
  constructor(id: string) {
    super(ErrorCode.ConnectionClosed, `connection ${id} is closed`);
  }
}

/** A send that would push the connection's outbound queue past `maxQueueBytes`. */
export class QueueFullError extends RxTcpHubError {
  readonly queuedBytes: number;
  readonly frameBytes: number;
  readonly maxQueueBytes: number;

  constructor(id: string, queuedBytes: number, frameBytes: number, maxQueueBytes: number) {
    super(
      ErrorCode.QueueFull,
      `connection ${id}: outbound queue full (${queuedBytes} bytes queued + ${frameBytes} bytes frame > maxQueueBytes ${maxQueueBytes})`,
    );
    this.queuedBytes = queuedBytes;
    this.frameBytes = frameBytes;
    this.maxQueueBytes = maxQueueBytes;
  }
}

/**
 * One of the hub's byte budgets over all its connections was passed: `totalBytes` would have passed
 * `maxBytes`. The connection holding the most (`shedId`, `shedBytes`) is closed; a charge larger
 * than the whole budget is refused instead, and closes nothing else (`shedId` undefined).
 */
export class HubBudgetError extends RxTcpHubError {
  readonly totalBytes: number;
  readonly maxBytes: number;
  readonly shedId: string | undefined;
  readonly shedBytes: number;

  constructor(code: ErrorCode, message: string, totalBytes: number, maxBytes: number, shedId: string | undefined, shedBytes: number) {
    super(code, message);
    this.totalBytes = totalBytes;
    this.maxBytes = maxBytes;
    this.shedId = shedId;
    this.shedBytes = shedBytes;
  }
}

/**
 * The hub's budget for queued bytes over all its connections (`maxQueuedBytesTotal`) was passed:
 * the connection that holds the most is closed as `slow-consumer`; a frame larger than the whole
 * budget is refused, and closes nothing.
 */
export class HubQueueFullError extends HubBudgetError {
  constructor(totalBytes: number, maxQueuedBytesTotal: number, shedId?: string, shedBytes = 0) {
    super(
      ErrorCode.HubQueueFull,
      shedId === undefined
        ? `a frame of ${totalBytes} bytes is larger than the hub's whole queue budget (maxQueuedBytesTotal ${maxQueuedBytesTotal})`
        : `connection ${shedId}: closed, holding the most (${shedBytes} bytes) when the hub's queued bytes (${totalBytes}) passed maxQueuedBytesTotal ${maxQueuedBytesTotal}`,
      totalBytes,
      maxQueuedBytesTotal,
      shedId,
      shedBytes,
    );
  }
}

/**
 * The hub's budget for bytes of partly received frames over all its connections
 * (`maxInboundBytesTotal`) was passed: the connection holding the most unfinished bytes is closed
 * as `inbound-budget`.
 */
export class InboundBudgetError extends HubBudgetError {
  constructor(totalBytes: number, maxInboundBytesTotal: number, shedId?: string, shedBytes = 0) {
    super(
      ErrorCode.InboundBudget,
      shedId === undefined
        ? `${totalBytes} bytes of one unfinished frame are more than the hub's whole inbound budget (maxInboundBytesTotal ${maxInboundBytesTotal})`
        : `connection ${shedId}: closed, holding the most unfinished bytes (${shedBytes}) when the hub's (${totalBytes}) passed maxInboundBytesTotal ${maxInboundBytesTotal}`,
      totalBytes,
      maxInboundBytesTotal,
      shedId,
      shedBytes,
    );
  }
}

/** The socket failed while the frame was being written. */
export class SendFailedError extends RxTcpHubError {
  constructor(id: string, cause: unknown) {
    super(ErrorCode.SendFailed, `connection ${id}: send failed: ${describe(cause)}`, { cause });
  }
}

/**
 * Handling what a connection received failed for a reason that is no protocol error (a buffer
 * could not be allocated, say): that connection is closed as `reset`, and nothing else is touched.
 */
export class ReceiveFailedError extends RxTcpHubError {
  constructor(id: string, cause: unknown) {
    super(ErrorCode.ReceiveFailed, `connection ${id}: receiving failed: ${describe(cause)}`, { cause });
  }
}

/** An outgoing connection could not be opened. */
export class ConnectFailedError extends RxTcpHubError {
  readonly host: string;
  readonly port: number;

  constructor(host: string, port: number, cause: unknown) {
    super(ErrorCode.ConnectFailed, `cannot connect to ${host}:${port}: ${describe(cause)}`, { cause });
    this.host = host;
    this.port = port;
  }
}

/** A target is not a live connection of the hub it was given to. */
export class UnknownConnectionError extends RxTcpHubError {
  constructor(target: string) {
    super(ErrorCode.UnknownConnection, `no live connection ${JSON.stringify(target)} on this hub`);
  }
}

/** The hub was stopped: it accepts no new connections or sends. */
export class HubStoppedError extends RxTcpHubError {
  constructor() {
    super(ErrorCode.HubStopped, 'the hub is stopped');
  }
}

/** An option has a value that cannot be used; the message names the option and the value. */
export class InvalidOptionError extends RxTcpHubError {
  constructor(option: string, value: unknown, expected: string) {
    super(ErrorCode.InvalidOption, `option ${option}: ${describeValue(value)} is not ${expected}`);
  }
}

/** A connection deadline passed; `deadlineMs` is the limit that was configured. */
export class DeadlineError extends RxTcpHubError {
  readonly deadlineMs: number;

  constructor(code: ErrorCode, message: string, deadlineMs: number) {
    super(code, message);
    this.deadlineMs = deadlineMs;
  }
}

/** Nothing was received for `idleTimeoutMs`: the peer is gone, or silent past the hub's patience. */
export class IdleTimeoutError extends DeadlineError {
  constructor(id: string, idleTimeoutMs: number) {
    super(ErrorCode.IdleTimeout, `connection ${id}: nothing received for ${idleTimeoutMs} ms (idleTimeoutMs)`, idleTimeoutMs);
  }
}

/** A frame was started and not finished in time: a slowloris peer, or a link too slow for the frame. */
export class FrameTimeoutError extends DeadlineError {
  constructor(id: string, frameTimeoutMs: number) {
    super(ErrorCode.FrameTimeout, `connection ${id}: a frame was not finished within ${frameTimeoutMs} ms of its first byte (frameTimeoutMs)`, frameTimeoutMs);
  }
}

/** Queued bytes made no progress into the kernel for `writeTimeoutMs`: the peer stopped reading. */
export class WriteTimeoutError extends DeadlineError {
  readonly queuedBytes: number;

  constructor(id: string, writeTimeoutMs: number, queuedBytes: number) {
    super(
      ErrorCode.WriteTimeout,
      `connection ${id}: ${queuedBytes} queued bytes made no progress for ${writeTimeoutMs} ms (writeTimeoutMs): the peer does not read`,
      writeTimeoutMs,
    );
    this.queuedBytes = queuedBytes;
  }
}

/** No whole message arrived in time after the connection opened. */
export class FirstMessageTimeoutError extends DeadlineError {
  constructor(id: string, firstMessageTimeoutMs: number) {
    super(ErrorCode.FirstMessageTimeout, `connection ${id}: no message within ${firstMessageTimeoutMs} ms of opening (firstMessageTimeoutMs)`, firstMessageTimeoutMs);
  }
}

/** The first message did not pass the `authenticate` hook; `cause` is what the hook threw, if it threw. */
export class AuthFailedError extends RxTcpHubError {
  constructor(id: string, cause?: unknown) {
    super(
      ErrorCode.AuthFailed,
      cause === undefined ? `connection ${id}: authentication failed` : `connection ${id}: authentication failed: ${describe(cause)}`,
      cause === undefined ? undefined : { cause },
    );
  }
}

/** No first message passed the `authenticate` hook within `authTimeoutMs`. */
export class AuthTimeoutError extends DeadlineError {
  constructor(id: string, authTimeoutMs: number) {
    super(ErrorCode.AuthTimeout, `connection ${id}: not authenticated within ${authTimeoutMs} ms (authTimeoutMs)`, authTimeoutMs);
  }
}

/** A TLS connection whose handshake did not finish within `handshakeTimeoutMs`; it never joined the hub. */
export class HandshakeTimeoutError extends DeadlineError {
  constructor(address: string, handshakeTimeoutMs: number) {
    super(ErrorCode.HandshakeTimeout, `${address}: TLS handshake not finished within ${handshakeTimeoutMs} ms (handshakeTimeoutMs)`, handshakeTimeoutMs);
  }
}

/** A connection refused because the hub already had `maxConnections` connections. */
export class TooManyConnectionsError extends RxTcpHubError {
  readonly maxConnections: number;

  constructor(maxConnections: number) {
    super(ErrorCode.TooManyConnections, `refused: the hub already has ${maxConnections} connections (maxConnections)`);
    this.maxConnections = maxConnections;
  }
}

/** A send on a dialled connection that is down (connecting or retrying), with no queue configured. */
export class NotConnectedError extends RxTcpHubError {
  /** The dialled address, `host:port`. */
  readonly address: string;
  /** What the connection was doing: `connecting` or `retrying`. */
  readonly state: string;

  constructor(address: string, state: string) {
    super(ErrorCode.NotConnected, `${address} is not connected (${state}); nothing was sent`);
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
      ErrorCode.OfflineQueueFull,
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
    super(ErrorCode.ConnectionLost, `connection ${id} was lost (${reason.reason}${reason.error ? `: ${reason.error.message}` : ''})`, {
      cause: reason.error,
    });
    this.id = id;
    this.reason = reason;
  }
}

/** `connect`, `send`, `ls`, `get` or `put` named a peer this side does not know. */
export class UnknownPeerError extends RxTcpHubError {
  /** The name as given. */
  readonly ref: string;

  constructor(ref: string) {
    super(
      ErrorCode.UnknownPeer,
      `no peer ${JSON.stringify(ref)}: not an open connection, not in the address book, not host:port`,
    );
    this.ref = ref;
  }
}

/** No port from `first` to `last` could be bound: each was in use. */
export class PortsInUseError extends RxTcpHubError {
  readonly host: string;
  readonly first: number;
  readonly last: number;

  constructor(host: string, first: number, last: number, cause: unknown) {
    super(ErrorCode.PortsInUse, `cannot listen on ${host}: ports ${first} to ${last} are all in use`, { cause });
    this.host = host;
    this.first = first;
    this.last = last;
  }
}

function describe(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code ? `${code} ${cause.message}` : cause.message;
  }
  return String(cause);
}

/** Renders an offending value for an error message, short and unambiguous. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  }
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return `bytes(${value.length})`;
  if (value === null || typeof value !== 'object') return String(value);
  return Object.prototype.toString.call(value);
}

/**
 * A file transfer failed or was refused. Failures found on this side have their own subclass;
 * a failure the peer reported arrives as a `TransferError` with the peer's code and `remote: true`.
 */
export class TransferError extends RxTcpHubError {
  /** True when the peer reported the failure (its code and message came over the wire). */
  readonly remote: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; remote?: boolean }) {
    super(code, message, options);
    this.remote = options?.remote ?? false;
  }
}

/** A file name that would leave the shared or downloads folder, or is not a plain file name. */
export class UnsafeNameError extends TransferError {
  constructor(name: unknown, why: string) {
    super(ErrorCode.TransferNameInvalid, `refused file name ${describeValue(name)}: ${why}`);
  }
}

/** A file over the transfer size limit. */
export class FileTooLargeError extends TransferError {
  constructor(name: string, size: number, maxFileBytes: number) {
    super(ErrorCode.TransferTooLarge, `${describeValue(name)} is ${size} bytes; the limit (maxFileBytes) is ${maxFileBytes}`);
  }
}

/** The file asked for is not in the shared folder. */
export class FileNotSharedError extends TransferError {
  constructor(name: string, cause?: unknown) {
    super(ErrorCode.TransferNotFound, `no file ${describeValue(name)} in the shared folder`, { cause });
  }
}

/** A file of the name being received already exists in the downloads folder. */
export class DownloadExistsError extends TransferError {
  constructor(name: string) {
    super(ErrorCode.TransferExists, `${describeValue(name)} already exists in the downloads folder`);
  }
}

/** Another transfer is writing that name, or the transfer limit is reached. */
export class TransferBusyError extends TransferError {
  constructor(message: string) {
    super(ErrorCode.TransferBusy, message);
  }
}

/** The received file's SHA-256 is not the sender's: nothing was published under the final name. */
export class ChecksumMismatchError extends TransferError {
  constructor(name: string, expected: string, actual: string) {
    super(ErrorCode.TransferChecksum, `${describeValue(name)}: SHA-256 mismatch (sender ${expected}, received ${actual}); nothing was published`);
  }
}

/** The transfer was cancelled, by this side (`by: 'local'`) or by the peer. */
export class TransferCancelledError extends TransferError {
  readonly by: 'local' | 'peer';

  constructor(by: 'local' | 'peer') {
    super(ErrorCode.TransferCancelled, by === 'local' ? 'transfer cancelled' : 'transfer cancelled by the peer', { remote: by === 'peer' });
    this.by = by;
  }
}

/** The connection closed during the transfer; the received part is kept, so a `get` resumes it. */
export class TransferInterruptedError extends TransferError {
  constructor(connection: string, cause?: unknown) {
    super(ErrorCode.TransferInterrupted, `connection ${connection} closed during the transfer${cause ? `: ${describe(cause)}` : ''}`, { cause });
  }
}

/** A transfer message broke the transfer vocabulary. */
export class TransferProtocolError extends TransferError {
  constructor(message: string) {
    super(ErrorCode.TransferProtocol, message);
  }
}

/** Reading or writing a file failed. */
export class TransferIoError extends TransferError {
  constructor(what: string, cause: unknown) {
    super(ErrorCode.TransferIo, `${what}: ${describe(cause)}`, { cause });
  }
}

/** The peer did not answer a transfer request in time. */
export class TransferTimeoutError extends TransferError {
  constructor(what: string, ms: number) {
    super(ErrorCode.TransferTimeout, `no answer to ${what} within ${ms} ms`);
  }
}
