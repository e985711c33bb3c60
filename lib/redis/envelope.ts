/**
 * What crosses Redis between bridged hubs, as pure functions: every envelope is one frame of the
 * library's own wire format. Its header routes it (kind, origin, sequence number, targets) and its
 * content is the user's message already encoded as a frame, so a receiving hub writes those bytes
 * to its sockets as they are, without decoding or encoding them again. No I/O here.
 */
import { randomBytes } from 'node:crypto';
import { InvalidOptionError } from '../errors.js';
import { FrameDecoder } from '../protocol/decoder.js';
import { encodeFrame } from '../protocol/encode.js';
import type { HeaderInput, Message } from '../protocol/message.js';

/** What an envelope asks of the hubs that receive it. */
export type EnvelopeKind =
  /** Write `frame` to every connection of the receiving hub. */
  | 'broadcast'
  /** Write `frame` to the connections of the receiving hub named in `to`. */
  | 'deliver'
  /** Close the connections of the receiving hub named in `to`. */
  | 'close'
  /** A connection of the origin hub received `frame` (with `shareIncoming`). */
  | 'incoming'
  /** A connection opened on the origin hub (`id`, `addr`). */
  | 'joined'
  /** A connection of the origin hub closed (`id`). */
  | 'left'
  /** The origin hub rewrote its presence entry (it started, or Redis came back): read it again. */
  | 'sync'
  /** The origin hub is stopping: forget its connections now rather than at expiry. */
  | 'bye';

/** One message between bridged hubs. */
export interface Envelope {
  readonly kind: EnvelopeKind;
  /** The sending bridge instance; a hub restarted under the same hub id is another instance. */
  readonly origin: string;
  /** The sending hub's id. */
  readonly hub: string;
  /** Per-origin sequence number, from 1: receivers drop repeats and keep the order. */
  readonly seq: number;
  /** The target connection ids (`deliver`, `close`). */
  readonly to?: readonly string[];
  /** The connection the envelope is about (`incoming`, `joined`, `left`). */
  readonly id?: string;
  /** The address of a joined connection, `host port`. */
  readonly addr?: string;
  /** An encoded frame (`broadcast`, `deliver`, `incoming`). */
  readonly frame?: Buffer;
}

const KINDS: ReadonlySet<string> = new Set<EnvelopeKind>(['broadcast', 'deliver', 'close', 'incoming', 'joined', 'left', 'sync', 'bye']);
/** Envelopes carry frames of any size the hubs accept; the Redis limit (512 MB) is far above. */
const MAX_ENVELOPE_CONTENT = 0x7fffffff;
const HUB_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The separator between a hub id and the hub's own connection number: `h1a2b3c4.c17`. */
export const HUB_ID_SEPARATOR = '.';

/**
 * A fresh random hub id, e.g. `h1a2b3c4`.
 * @example
 * const hubId = newHubId();
 * const server = await Server.listen({ port: 5000, idPrefix: clusterIdPrefix(hubId) });
 */
export function newHubId(): string {
  return `h${randomBytes(4).toString('hex')}`;
}

/**
 * The `idPrefix` that makes a hub's connection ids unique in the cluster: `h1a2b3c4.c` gives
 * `h1a2b3c4.c1`, `h1a2b3c4.c2`, ...
 * @throws InvalidOptionError for a hub id that is not 1 to 64 letters, digits, `_` or `-`
 */
export function clusterIdPrefix(hubId: string): string {
  checkHubId(hubId);
  return `${hubId}${HUB_ID_SEPARATOR}c`;
}

/** The hub id a cluster connection id starts with, or undefined when it has none. */
export function hubIdOf(connectionId: string): string | undefined {
  const at = connectionId.indexOf(HUB_ID_SEPARATOR);
  return at > 0 ? connectionId.slice(0, at) : undefined;
}

/** @throws InvalidOptionError for a hub id that is not 1 to 64 letters, digits, `_` or `-` */
export function checkHubId(hubId: unknown): string {
  if (typeof hubId !== 'string' || !HUB_ID.test(hubId)) {
    throw new InvalidOptionError('hubId', hubId, 'a name of 1 to 64 letters, digits, "_" or "-"');
  }
  return hubId;
}

/**
 * The bytes of an envelope: one frame whose header routes it and whose content is `frame`.
 * @throws FrameEncodeError when a target id cannot travel in a header (it holds `:`, `;`)
 */
export function encodeEnvelope(envelope: Envelope): Buffer {
  const header: Record<string, string | number> = { kind: envelope.kind, origin: envelope.origin, hub: envelope.hub, seq: envelope.seq };
  if (envelope.to !== undefined) header['to'] = envelope.to.join(',');
  if (envelope.id !== undefined) header['id'] = envelope.id;
  if (envelope.addr !== undefined) header['addr'] = envelope.addr;
  const parts = encodeFrame(header as HeaderInput, envelope.frame);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts as Buffer[]);
}

/**
 * Reads an envelope back. A payload that is not exactly one well-formed envelope gives an Error
 * saying why (it is counted and dropped by the bridge, never thrown).
 */
export function decodeEnvelope(payload: Buffer): Envelope | Error {
  let message: Message | undefined;
  let count = 0;
  try {
    const decoder = new FrameDecoder({ maxContentBytes: MAX_ENVELOPE_CONTENT });
    decoder.push(payload, (m) => {
      message = m;
      count++;
    });
    decoder.end();
  } catch (error) {
    return error as Error;
  }
  if (count !== 1 || message === undefined) return new Error(`envelope holds ${count} frames, not 1`);
  const { header, content } = message;
  const kind = header['kind'];
  const origin = header['origin'];
  const hub = header['hub'];
  const seq = Number(header['seq']);
  if (kind === undefined || !KINDS.has(kind)) return new Error(`envelope of unknown kind ${JSON.stringify(kind)}`);
  if (!origin || !hub || !Number.isSafeInteger(seq) || seq < 1) return new Error('envelope without origin, hub or sequence number');
  const to = header['to'];
  return {
    kind: kind as EnvelopeKind,
    origin,
    hub,
    seq,
    ...(to !== undefined ? { to: to === '' ? [] : to.split(',') } : {}),
    ...(header['id'] !== undefined ? { id: header['id'] } : {}),
    ...(header['addr'] !== undefined ? { addr: header['addr'] } : {}),
    ...(content.length > 0 ? { frame: content } : {}),
  };
}

/**
 * The one message an encoded frame holds (the content of an `incoming` envelope).
 * @throws ProtocolError when the bytes are not exactly one frame
 */
export function decodeMessage(frame: Buffer): Message {
  const decoder = new FrameDecoder({ maxContentBytes: MAX_ENVELOPE_CONTENT });
  let message: Message | undefined;
  decoder.push(frame, (m) => (message = m));
  decoder.end();
  return message!;
}

/** A connection address as an envelope carries it: `host port` (an IPv6 host holds `:`, which a header value cannot). */
export function encodeAddr(addr: { readonly host: string; readonly port: number }): string {
  return `${addr.host.replaceAll(':', '_')} ${addr.port}`;
}

/** Reads back `encodeAddr`. */
export function decodeAddr(text: string | undefined): { host: string; port: number } | undefined {
  if (!text) return undefined;
  const space = text.lastIndexOf(' ');
  if (space < 0) return undefined;
  return { host: text.slice(0, space).replaceAll('_', ':'), port: Number(text.slice(space + 1)) };
}
