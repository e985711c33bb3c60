/**
 * The file-transfer vocabulary (see PROTOCOL.md): what each transfer message holds, how it becomes a
 * header and content, and how a received message is read back, checked field by field. No I/O here.
 *
 * Transfer messages travel on the chat connection and are told apart by the header key `ft` (the
 * operation). Header values carry only operations, ids, decimal numbers, hex digests and error
 * codes, none of which can hold `:` or `;`; file names and error texts travel in the content as JSON.
 */
import { ErrorCode, TransferProtocolError, describeValue } from '../../errors.js';
import type { HeaderInput, Message } from '../../protocol/message.js';

/** The header key that marks a transfer message; its value is the operation. */
export const TRANSFER_KEY = 'ft';

/** Every operation of the vocabulary. */
export const TransferOp = {
  List: 'ls',
  ListResult: 'ls-result',
  Get: 'get',
  Put: 'put',
  Accept: 'accept',
  Start: 'start',
  Chunk: 'chunk',
  Ack: 'ack',
  End: 'end',
  Done: 'done',
  Cancel: 'cancel',
  Error: 'error',
} as const;

export type TransferOp = (typeof TransferOp)[keyof typeof TransferOp];

/** One entry of a peer's shared folder, as `ls` reports it. */
export interface RemoteFile {
  readonly name: string;
  readonly size: number;
}

/**
 * What a receiver already holds of a file (the length of its part file and the SHA-256 of those
 * bytes) and how much it lets the sender send ahead of its acknowledgements.
 */
export interface ReceiverClaim {
  /** Bytes already received in the part file; 0 for none. */
  readonly have: number;
  /** SHA-256 (hex) of those `have` bytes; absent when `have` is 0. */
  readonly sha256?: string;
  /** Chunks the sender may send beyond the receiver's last `ack`. */
  readonly window: number;
  /** Largest chunk content, in bytes, the receiver accepts. */
  readonly chunk: number;
}

/** A transfer message, decoded. `id` names the transfer (or `ls` request) on its connection. */
export type TransferMessage =
  | { readonly op: 'ls'; readonly id: string }
  | { readonly op: 'ls-result'; readonly id: string; readonly files: readonly RemoteFile[] }
  | ({ readonly op: 'get'; readonly id: string; readonly name: string } & ReceiverClaim)
  | { readonly op: 'put'; readonly id: string; readonly name: string; readonly size: number }
  | ({ readonly op: 'accept'; readonly id: string } & ReceiverClaim)
  | { readonly op: 'start'; readonly id: string; readonly size: number; readonly offset: number }
  | { readonly op: 'chunk'; readonly id: string; readonly offset: number; readonly data: Buffer }
  | { readonly op: 'ack'; readonly id: string; readonly offset: number }
  | { readonly op: 'end'; readonly id: string; readonly size: number; readonly sha256: string }
  | { readonly op: 'done'; readonly id: string; readonly sha256: string }
  | { readonly op: 'cancel'; readonly id: string }
  | { readonly op: 'error'; readonly id: string; readonly code: string; readonly message: string };

/** A message as it goes to `send`: its header and, when it has one, its content. */
export interface EncodedTransferMessage {
  readonly header: HeaderInput;
  readonly content?: Buffer;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const DECIMAL = /^[0-9]{1,16}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const CODE = /^ERR_[A-Z0-9_]{1,60}$/;
const OPS = new Set<string>(Object.values(TransferOp));

/** True for a message of the transfer vocabulary (it has the `ft` key); chat layers skip these. */
export function isTransferMessage(message: Pick<Message, 'header'>): boolean {
  return message.header[TRANSFER_KEY] !== undefined;
}

/**
 * The header and content of a transfer message.
 * @example
 * encodeTransferMessage({ op: 'ack', id: 'a1b2', offset: 262144 }) // { header: { ft: 'ack', id: 'a1b2', offset: 262144 } }
 */
export function encodeTransferMessage(message: TransferMessage): EncodedTransferMessage {
  const { op, id } = message;
  switch (message.op) {
    case 'ls':
    case 'cancel':
      return { header: { ft: op, id } };
    case 'ls-result':
      return { header: { ft: op, id }, content: json(message.files.map(({ name, size }) => ({ name, size }))) };
    case 'get':
      return { header: { ft: op, id, ...claimHeader(message) }, content: json({ name: message.name }) };
    case 'put':
      return { header: { ft: op, id, size: message.size }, content: json({ name: message.name }) };
    case 'accept':
      return { header: { ft: op, id, ...claimHeader(message) } };
    case 'start':
      return { header: { ft: op, id, size: message.size, offset: message.offset } };
    case 'chunk':
      return { header: { ft: op, id, offset: message.offset }, content: message.data };
    case 'ack':
      return { header: { ft: op, id, offset: message.offset } };
    case 'end':
      return { header: { ft: op, id, size: message.size, sha256: message.sha256 } };
    case 'done':
      return { header: { ft: op, id, sha256: message.sha256 } };
    case 'error':
      return { header: { ft: op, id, code: message.code }, content: json({ message: message.message }) };
  }
}

/**
 * Reads a received transfer message, checking every field. Returns the message, or a
 * `TransferProtocolError` (never thrown) that says what was wrong; `id` is the transfer id when the
 * message had a readable one, so the failure can be reported against that transfer.
 */
export function decodeTransferMessage(message: Message): TransferMessage | { readonly error: TransferProtocolError; readonly id?: string } {
  const header = message.header;
  const op = header[TRANSFER_KEY];
  const rawId = header['id'];
  const id = rawId !== undefined && ID.test(rawId) ? rawId : undefined;
  try {
    if (op === undefined || !OPS.has(op)) throw bad(`unknown transfer operation ${describeValue(op)}`);
    if (id === undefined) throw bad(`${op}: missing or invalid id ${describeValue(rawId)}`);
    return decodeOp(op as TransferOp, id, header, message.content);
  } catch (error) {
    if (error instanceof TransferProtocolError) return id === undefined ? { error } : { error, id };
    throw error;
  }
}

function decodeOp(op: TransferOp, id: string, header: Message['header'], content: Buffer): TransferMessage {
  switch (op) {
    case 'ls':
    case 'cancel':
      return { op, id };
    case 'ls-result': {
      const files = parseJson(op, content);
      if (!Array.isArray(files)) throw bad('ls-result: content is not a JSON array');
      return { op, id, files: files.map((file) => remoteFile(file)) };
    }
    case 'get':
      return { op, id, name: nameOf(op, content), ...claim(op, header) };
    case 'put':
      return { op, id, name: nameOf(op, content), size: integer(op, header, 'size') };
    case 'accept':
      return { op, id, ...claim(op, header) };
    case 'start':
      return { op, id, size: integer(op, header, 'size'), offset: integer(op, header, 'offset') };
    case 'chunk':
      if (content.length === 0) throw bad('chunk: no content');
      return { op, id, offset: integer(op, header, 'offset'), data: content };
    case 'ack':
      return { op, id, offset: integer(op, header, 'offset') };
    case 'end':
      return { op, id, size: integer(op, header, 'size'), sha256: digest(op, header['sha256']) };
    case 'done':
      return { op, id, sha256: digest(op, header['sha256']) };
    case 'error': {
      const code = header['code'];
      if (code === undefined || !CODE.test(code)) throw bad(`error: invalid code ${describeValue(code)}`);
      const body = content.length === 0 ? {} : parseJson(op, content);
      const text = isRecord(body) && typeof body['message'] === 'string' ? body['message'] : code;
      return { op, id, code, message: text };
    }
  }
}

function claimHeader(claim: ReceiverClaim): HeaderInput {
  const header: Record<string, string | number> = { have: claim.have };
  if (claim.sha256 !== undefined) header['sha256'] = claim.sha256;
  header['window'] = claim.window;
  header['chunk'] = claim.chunk;
  return header;
}

function claim(op: string, header: Message['header']): ReceiverClaim {
  const have = integer(op, header, 'have');
  const window = integer(op, header, 'window');
  const chunk = integer(op, header, 'chunk');
  if (window < 1 || chunk < 1) throw bad(`${op}: window and chunk must be at least 1`);
  if (have === 0) {
    if (header['sha256'] !== undefined) throw bad(`${op}: sha256 given for have 0`);
    return { have, window, chunk };
  }
  return { have, sha256: digest(op, header['sha256']), window, chunk };
}

function integer(op: string, header: Message['header'], key: string): number {
  const value = header[key];
  if (value === undefined || !DECIMAL.test(value) || !Number.isSafeInteger(Number(value))) {
    throw bad(`${op}: ${key} ${describeValue(value)} is not a whole number`);
  }
  return Number(value);
}

function digest(op: string, value: string | undefined): string {
  if (value === undefined || !SHA256.test(value)) throw bad(`${op}: sha256 ${describeValue(value)} is not 64 hex digits`);
  return value;
}

function nameOf(op: string, content: Buffer): string {
  const body = parseJson(op, content);
  if (!isRecord(body) || typeof body['name'] !== 'string') throw bad(`${op}: content has no "name" string`);
  return body['name'];
}

function remoteFile(value: unknown): RemoteFile {
  if (!isRecord(value) || typeof value['name'] !== 'string' || !Number.isSafeInteger(value['size']) || (value['size'] as number) < 0) {
    throw bad('ls-result: an entry is not { name, size }');
  }
  return { name: value['name'], size: value['size'] as number };
}

function parseJson(op: string, content: Buffer): unknown {
  try {
    return JSON.parse(content.toString('utf8'));
  } catch {
    throw bad(`${op}: content is not JSON`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function bad(message: string): TransferProtocolError {
  return new TransferProtocolError(message);
}

/** The code an `error` message carries for a failure, so the peer can name it. */
export function wireCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CODE.test(code) ? code : ErrorCode.TransferIo;
}
