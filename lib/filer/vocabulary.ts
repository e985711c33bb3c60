/**
 * The seed's tracker vocabulary (reference §2), byte for byte, as pure functions: the peer's report
 * `{ID, Port}`, the tracker's `{Broadcast: ""}` whose content lists the live peers as
 * `ID,IP,Port;ID,IP,Port` (UTF-8, no trailing `;`), and the connecting side's `{TP: "Check"}`.
 * No I/O here: the tracker and the peer use these to talk, tests use them to check the bytes.
 */
import type { HeaderInput, Message } from '../protocol/message.js';

/** The header key of a peer's name in a report. */
export const REPORT_ID_KEY = 'ID';
/** The header key of a peer's listening port in a report. */
export const REPORT_PORT_KEY = 'Port';
/** The header key that marks the tracker's list of peers; its value is empty. */
export const BROADCAST_KEY = 'Broadcast';

/** One peer as the tracker lists it: its name, the address the tracker sees it at, its own port. */
export interface PeerEntry {
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

/** A report, read back: the peer's name and the port it listens on. */
export interface Report {
  readonly id: string;
  readonly port: number;
}

/**
 * Why a name cannot be a peer's ID, or undefined when it can. An ID travels as a header value (no
 * `:` or `;`) and inside the broadcast body (no `,`); the consoles take it as one word (no spaces).
 */
export function peerIdProblem(id: unknown): string | undefined {
  if (typeof id !== 'string' || id.length === 0) return 'a non-empty name';
  if (Buffer.byteLength(id, 'utf8') > 256) return 'at most 256 bytes';
  if (/[\s:;,]/.test(id) || /[\u0000-\u001f\u007f]/.test(id)) return 'a name without spaces, control characters, ":", ";" or ","';
  return undefined;
}

/**
 * The header of a report.
 * @example
 * reportHeader('Stan', 63330) // { ID: 'Stan', Port: 63330 }, on the wire `CL:0;ID:Stan;Port:63330`
 */
export function reportHeader(id: string, port: number): HeaderInput {
  return { [REPORT_ID_KEY]: id, [REPORT_PORT_KEY]: port };
}

/**
 * Reads a report: a message with `ID` and `Port`. Undefined when the message is no report (it has
 * no `ID`); an `Error` saying what is wrong when it is a report the tracker cannot list.
 */
export function parseReport(message: Pick<Message, 'header'>): Report | Error | undefined {
  const id = message.header[REPORT_ID_KEY];
  if (id === undefined) return undefined;
  const problem = peerIdProblem(id);
  if (problem) return new Error(`report with ID ${JSON.stringify(id)}: expected ${problem}`);
  const text = message.header[REPORT_PORT_KEY];
  const port = text !== undefined && /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) return new Error(`report of ${id} with Port ${JSON.stringify(text)}: expected a port from 1 to 65535`);
  return { id, port };
}

/** The header of the tracker's broadcast: `{Broadcast: ""}`. */
export const BROADCAST_HEADER: HeaderInput = Object.freeze({ [BROADCAST_KEY]: '' });

/** True for the tracker's broadcast of the peer list; e.g. `link.messages$.pipe(filter(isBroadcast))`. */
export function isBroadcast<T extends Pick<Message, 'header'>>(message: T): boolean {
  return message.header[BROADCAST_KEY] !== undefined;
}

/**
 * The broadcast body: `ID,IP,Port` per peer, joined by `;`, no trailing `;`.
 * @example
 * encodePeerList([{ id: 'Stan', host: '127.0.0.1', port: 63330 }]).toString() // 'Stan,127.0.0.1,63330'
 */
export function encodePeerList(entries: readonly PeerEntry[]): Buffer {
  return Buffer.from(entries.map(({ id, host, port }) => `${id},${host},${port}`).join(';'), 'utf8');
}

/**
 * Reads a broadcast body. Entries that do not read as `ID,IP,Port` (a bad port, a missing field) are
 * left out and counted in `skipped`, so one odd entry never hides the others.
 */
export function decodePeerList(body: Uint8Array): { readonly entries: PeerEntry[]; readonly skipped: number } {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  const entries: PeerEntry[] = [];
  let skipped = 0;
  if (text === '') return { entries, skipped };
  for (const item of text.split(';')) {
    const [id, host, portText, ...extra] = item.split(',');
    const port = portText !== undefined && /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (extra.length > 0 || !id || !host || !(port >= 1 && port <= 65535)) skipped++;
    else entries.push({ id, host, port });
  }
  return { entries, skipped };
}

/**
 * The address as the tracker lists it: an IPv4 address seen through an IPv6 socket
 * (`::ffff:10.1.2.3`) is written as the IPv4 address, as the original tracker would.
 */
export function listedHost(host: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(host);
  return mapped ? mapped[1]! : host;
}
