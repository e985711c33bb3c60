/**
 * Where a transfer may read and write: plain file names only, resolved inside the shared or the
 * downloads folder, with symbolic links followed only when they stay inside (checked on the real
 * path, after every link is resolved). Every refusal is an `UnsafeNameError` that says why.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, realpath, stat, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';
import { FileNotSharedError, TransferIoError, UnsafeNameError } from '../../errors.js';
import type { RemoteFile } from './vocabulary.js';

/** Longest file name, in UTF-8 bytes: the part file `.<name>.part` must fit the usual 255. */
export const MAX_NAME_BYTES = 255 - '..part'.length;

/** The suffix of a file being received; the part file of `x.bin` is `.x.bin.part`. */
export const PART_SUFFIX = '.part';

/**
 * Checks that `name` is a plain file name: not empty, not absolute, no path separator, not `.` or
 * `..`, not hidden (a leading `.`, which part files use), no control characters, at most
 * `MAX_NAME_BYTES`. Returns it, or throws `UnsafeNameError`.
 * @example
 * checkName('report.pdf') // 'report.pdf'
 * checkName('../x')       // throws UnsafeNameError: refused file name "../x": holds a path separator
 */
export function checkName(name: unknown): string {
  if (typeof name !== 'string') throw new UnsafeNameError(name, 'not a string');
  if (name.length === 0) throw new UnsafeNameError(name, 'empty');
  if (isAbsolute(name)) throw new UnsafeNameError(name, 'an absolute path');
  if (/^[A-Za-z]:/.test(name)) throw new UnsafeNameError(name, 'starts with a drive letter');
  if (name.includes('/') || name.includes('\\')) throw new UnsafeNameError(name, 'holds a path separator');
  if (name === '.' || name === '..') throw new UnsafeNameError(name, 'names a folder');
  if (name.startsWith('.')) throw new UnsafeNameError(name, 'a hidden name (leading ".")');
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new UnsafeNameError(name, 'holds a control character');
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) throw new UnsafeNameError(name, `longer than ${MAX_NAME_BYTES} bytes`);
  return name;
}

/** True when `path` is `root` or inside it (both real, absolute paths). */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** A shared file, resolved: its real path and its size. */
export interface SharedFile {
  readonly path: string;
  readonly size: number;
}

/**
 * Resolves a name in the shared folder to a regular file whose real path is inside the folder.
 * @throws UnsafeNameError (bad name, or a link pointing outside), FileNotSharedError, TransferIoError
 */
export async function resolveShared(shareDir: string, name: string): Promise<SharedFile> {
  checkName(name);
  const root = await realFolder(shareDir, 'shared');
  let real: string;
  try {
    real = await realpath(join(root, name));
  } catch (error) {
    throw new FileNotSharedError(name, error);
  }
  if (!isInside(root, real)) throw new UnsafeNameError(name, 'a link that points outside the shared folder');
  const info = await stat(real).catch((error: unknown) => {
    throw new FileNotSharedError(name, error);
  });
  if (!info.isFile()) throw new FileNotSharedError(name);
  return { path: real, size: info.size };
}

/**
 * The regular files of the shared folder (top level only), name and size, sorted by name. Hidden
 * names, names that `checkName` refuses and links pointing outside the folder are left out.
 */
export async function listShared(shareDir: string): Promise<RemoteFile[]> {
  const root = await realFolder(shareDir, 'shared');
  const entries = await readdir(root).catch((error: unknown) => {
    throw new TransferIoError('cannot read the shared folder', error);
  });
  const files: RemoteFile[] = [];
  for (const name of entries.sort()) {
    try {
      files.push({ name, size: (await resolveShared(root, name)).size });
    } catch {
      // Not shareable (hidden, a folder, a link outside, gone since readdir): not listed.
    }
  }
  return files;
}

/** Where a received file goes: its final path and the part file it is written to first. */
export interface DownloadPaths {
  readonly final: string;
  readonly part: string;
}

/** The final and part paths of `name` in the downloads folder (real path of the folder). */
export async function downloadPaths(downloadsDir: string, name: string): Promise<DownloadPaths> {
  checkName(name);
  const root = await realFolder(downloadsDir, 'downloads');
  return { final: join(root, name), part: join(root, `.${name}${PART_SUFFIX}`) };
}

/** True when something (a file, a folder, a link, even a dangling one) has this path. */
export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new TransferIoError(`cannot check ${path}`, error);
  }
}

/**
 * Opens (or creates) a part file for reading and writing without following a link: a part "file"
 * that is a link, a folder or a device is refused rather than written through.
 */
export async function openPart(path: string, name: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'EISDIR') throw new UnsafeNameError(name, 'its part file in the downloads folder is not a regular file');
    throw new TransferIoError(`cannot open the part file of ${JSON.stringify(name)}`, error);
  }
  const info = await handle.stat();
  if (!info.isFile()) {
    await handle.close();
    throw new UnsafeNameError(name, 'its part file in the downloads folder is not a regular file');
  }
  return handle;
}

async function realFolder(dir: string, what: string): Promise<string> {
  try {
    return await realpath(dir);
  } catch (error) {
    throw new TransferIoError(`cannot open the ${what} folder ${JSON.stringify(dir)}`, error);
  }
}
