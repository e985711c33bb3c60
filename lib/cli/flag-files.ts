/**
 * The files command-line flags name, read when a console starts: the TLS certificate, key and CA,
 * and the filer's secret. A file that cannot be read, or a certificate OpenSSL cannot use, is a
 * one-line `UsageError` naming the flag (exit status 2), never a stack trace.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type ConnectionOptions, type TlsOptions } from 'node:tls';
import { UsageError } from './args.js';
import type { SecretArg } from './filer-args.js';
import type { FlagSide, TlsFiles } from './limit-flags.js';

/** The TLS material the flags named, read and checked. */
export interface TlsMaterial {
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly ca?: Buffer;
}

/**
 * Reads `--tls-cert`, `--tls-key` and `--tls-ca`, and checks that OpenSSL can use them.
 * @throws (rejects) UsageError naming the flag of the file that cannot be read or used
 */
export async function readTlsFiles(files: TlsFiles): Promise<TlsMaterial> {
  const read = async (flag: string, path: string | undefined) => (path === undefined ? undefined : readFlagFile(flag, path));
  const material = { cert: await read('--tls-cert', files.cert), key: await read('--tls-key', files.key), ca: await read('--tls-ca', files.ca) };
  // OpenSSL skips what is not a certificate in a CA file; a file without one is a mistake.
  const { ca } = material;
  if (ca) usable('--tls-ca', () => new X509Certificate(ca));
  if (material.cert && material.key) usable('--tls-cert/--tls-key', () => createSecureContext({ cert: material.cert, key: material.key }));
  return Object.fromEntries(Object.entries(material).filter(([, value]) => value !== undefined));
}

/** A listener's TLS options: its certificate; with a CA, clients must show a certificate from it. */
export function listenTls({ cert, key, ca }: TlsMaterial): TlsOptions {
  return { cert, key, ...(ca ? { ca, requestCert: true, rejectUnauthorized: true } : {}) };
}

/** A dialler's TLS options: the CA it trusts (else the system's), and its own certificate for mutual TLS. */
export function dialTls({ cert, key, ca }: TlsMaterial): ConnectionOptions {
  return { ...(ca ? { ca } : {}), ...(cert && key ? { cert, key } : {}) };
}

/** The TLS options of each side, or undefined for plain TCP. */
export async function tlsOptions(files: TlsFiles | undefined, side: 'listen'): Promise<TlsOptions | undefined>;
export async function tlsOptions(files: TlsFiles | undefined, side: 'dial'): Promise<ConnectionOptions | undefined>;
export async function tlsOptions(files: TlsFiles | undefined, side: FlagSide): Promise<TlsOptions | ConnectionOptions | undefined> {
  if (!files) return undefined;
  const material = await readTlsFiles(files);
  return side === 'listen' ? listenTls(material) : dialTls(material);
}

/**
 * The filer's secret: the text of `--secret`, or the text of the `--secret-file` file with one
 * trailing line break removed; undefined without either.
 * @throws (rejects) UsageError for a file that cannot be read or holds nothing
 */
export async function readSecret(arg: SecretArg | undefined): Promise<string | undefined> {
  if (arg === undefined) return undefined;
  if ('text' in arg) return arg.text;
  const path = arg.file;
  const secret = (await readFlagFile('--secret-file', path)).toString('utf8').replace(/\r?\n$/, '');
  if (secret === '') throw new UsageError(`--secret-file: ${JSON.stringify(path)} is empty`);
  return secret;
}

async function readFlagFile(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UsageError(`${flag}: cannot read ${JSON.stringify(path)} (${reason})`);
  }
}

function usable(flag: string, check: () => unknown): void {
  try {
    check();
  } catch (error) {
    throw new UsageError(`${flag}: not usable for TLS (${(error as Error).message})`);
  }
}
