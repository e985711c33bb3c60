/**
 * The errors of the filer's tracker and peer. They extend the library's `RxTcpHubError`, with
 * stable codes (listed in the README), kept here beside the filer as the reconnect errors are kept
 * beside the hub; they can join `errors.ts` and its `ErrorCode` table.
 */
import { RxTcpHubError, type ErrorCode } from '../errors.js';

/** Stable codes of the errors in this file. */
export const FilerErrorCode = {
  /** A peer named by an ID that is not in the address book, nor an open connection, nor `host:port`. */
  UnknownPeer: 'ERR_UNKNOWN_PEER',
  /** Every port a peer may listen on, from its start port on, is taken. */
  PortsInUse: 'ERR_PORTS_IN_USE',
} as const;

export type FilerErrorCode = (typeof FilerErrorCode)[keyof typeof FilerErrorCode];

// The base class takes only codes of `ErrorCode`; these join it when this file moves there.
const code = (value: FilerErrorCode): ErrorCode => value as unknown as ErrorCode;

/** `connect`, `send`, `ls`, `get` or `put` named a peer this side does not know. */
export class UnknownPeerError extends RxTcpHubError {
  /** The name as given. */
  readonly ref: string;

  constructor(ref: string) {
    super(
      code(FilerErrorCode.UnknownPeer),
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
    super(code(FilerErrorCode.PortsInUse), `cannot listen on ${host}: ports ${first} to ${last} are all in use`, { cause });
    this.host = host;
    this.first = first;
    this.last = last;
  }
}
