/**
 * Every error rx-tcp-hub raises is made here, so that its class, its stable `code` and its message
 * always go together. Codes never change once released; the README lists them.
 */

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
  /** The socket failed while writing the frame. */
  SendFailed: 'ERR_SEND_FAILED',
  /** An outgoing connection could not be opened. */
  ConnectFailed: 'ERR_CONNECT_FAILED',
  /** A target given to send or multicast is not a live connection of this hub. */
  UnknownConnection: 'ERR_UNKNOWN_CONNECTION',
  /** The hub has been stopped. */
  HubStopped: 'ERR_HUB_STOPPED',
  /** An option passed to a constructor or a function has an unusable value. */
  InvalidOption: 'ERR_INVALID_OPTION',
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

/** The socket failed while the frame was being written. */
export class SendFailedError extends RxTcpHubError {
  constructor(id: string, cause: unknown) {
    super(ErrorCode.SendFailed, `connection ${id}: send failed: ${describe(cause)}`, { cause });
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
